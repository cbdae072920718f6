import { describe, expect, it } from "vitest";
import { parsePayload } from "./messages";

describe("span payloads", () => {
  it("shows message arrays as chat", () => {
    expect(parsePayload('[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"hello"}]}]')).toEqual({
      kind: "chat",
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
      ],
    });
  });

  it("shows other JSON pretty and anything else as text", () => {
    expect(parsePayload('{"a":1}')).toEqual({ kind: "json", pretty: '{\n  "a": 1\n}' });
    expect(parsePayload('"quoted"')).toEqual({ kind: "text", text: "quoted" });
    expect(parsePayload("plain words")).toEqual({ kind: "text", text: "plain words" });
    expect(parsePayload("[1,2]").kind).toBe("json");
  });
});
