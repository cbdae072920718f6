// Recognises span input/output that is a list of chat messages (OpenAI-style
// `[{"role": ..., "content": ...}]`), so the panel can show it as a conversation.

export interface ChatMessage {
  role: string;
  content: string;
}

function text(content: unknown): string {
  if (typeof content === "string") return content;
  if (content == null) return "";
  // Multi-part content (text parts, tool calls): keep the text parts, else show the JSON.
  if (Array.isArray(content)) {
    const parts = content.map((p) => (p && typeof p === "object" && "text" in p ? String((p as { text: unknown }).text) : null));
    if (parts.every((p) => p != null)) return parts.join("\n");
  }
  return JSON.stringify(content, null, 2);
}

export type Payload =
  | { kind: "chat"; messages: ChatMessage[] }
  | { kind: "json"; pretty: string }
  | { kind: "text"; text: string };

export function parsePayload(raw: string): Payload {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { kind: "text", text: raw };
  }
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((m) => m && typeof m === "object" && typeof (m as { role?: unknown }).role === "string")
  ) {
    return {
      kind: "chat",
      messages: value.map((m: { role: string; content?: unknown; parts?: unknown }) => ({
        role: m.role,
        content: text(m.content ?? m.parts ?? m),
      })),
    };
  }
  if (typeof value === "string") return { kind: "text", text: value };
  return { kind: "json", pretty: JSON.stringify(value, null, 2) };
}
