// Light/dark theme: the OS preference until the user picks one, then their pick (remembered).

export type Theme = "light" | "dark";
const KEY = "spyglass.theme";

function stored(): Theme | null {
  const v = localStorage.getItem(KEY);
  return v === "light" || v === "dark" ? v : null;
}

export function currentTheme(): Theme {
  return (document.documentElement.dataset.theme as Theme | undefined) ?? "light";
}

export function applyInitialTheme(): void {
  const prefersDark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
  document.documentElement.dataset.theme = stored() ?? (prefersDark ? "dark" : "light");
}

export function setTheme(theme: Theme): void {
  localStorage.setItem(KEY, theme);
  document.documentElement.dataset.theme = theme;
}
