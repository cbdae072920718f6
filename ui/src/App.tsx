import { useState } from "react";
import { NavLink, Route, Routes } from "react-router-dom";
import { OverviewPage } from "./pages/OverviewPage";
import { TracesPage } from "./pages/TracesPage";
import { TracePage } from "./pages/TracePage";
import { SecurityPage } from "./pages/SecurityPage";
import { LivePage } from "./pages/LivePage";
import { SessionsPage } from "./pages/SessionsPage";
import { SessionPage } from "./pages/SessionPage";
import { AnalyticsPage } from "./pages/AnalyticsPage";
import { AgentsPage } from "./pages/AgentsPage";
import { AlertsPage } from "./pages/AlertsPage";
import { SettingsPage } from "./pages/SettingsPage";
import { AuthProvider } from "./auth/AuthProvider";
import { ProjectSwitcher, UserMenu } from "./auth/UserMenu";
import { currentTheme, setTheme, type Theme } from "./theme";

function ThemeToggle() {
  const [theme, set] = useState<Theme>(currentTheme);
  const next: Theme = theme === "dark" ? "light" : "dark";
  return (
    <button
      className="theme-toggle"
      title={`Switch to the ${next} theme`}
      onClick={() => {
        setTheme(next);
        set(next);
      }}
    >
      {theme === "dark" ? "☀ Light" : "☾ Dark"}
    </button>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        This address is not a dashboard page. Go to the <NavLink to="/">overview</NavLink>.
      </p>
    </div>
  );
}

export function App() {
  return <AuthProvider>{(project) => <Shell project={project} />}</AuthProvider>;
}

function Shell({ project }: { project: string | null }) {
  return (
    <div className="shell">
      <nav className="nav">
        <span className="brand">Spyglass</span>
        <NavLink to="/" end>
          Overview
        </NavLink>
        <NavLink to="/traces">Traces</NavLink>
        <NavLink to="/live">Live</NavLink>
        <NavLink to="/sessions">Sessions</NavLink>
        <NavLink to="/security">Security</NavLink>
        <NavLink to="/analytics">Analytics</NavLink>
        <NavLink to="/agents">Agents</NavLink>
        <NavLink to="/alerts">Alerts</NavLink>
        <NavLink to="/settings">Settings</NavLink>
        <span className="spacer" />
        <ProjectSwitcher />
        <a href="/api/openapi.json" target="_blank" rel="noreferrer">
          API
        </a>
        <ThemeToggle />
        <UserMenu />
      </nav>
      {/* A new project remounts the pages, so nothing of the previous one stays on screen. */}
      <main className="main" key={project ?? ""}>
        <Routes>
          <Route path="/" element={<OverviewPage />} />
          <Route path="/traces" element={<TracesPage />} />
          <Route path="/traces/:traceId" element={<TracePage />} />
          <Route path="/security" element={<SecurityPage />} />
          <Route path="/live" element={<LivePage />} />
          <Route path="/sessions" element={<SessionsPage />} />
          <Route path="/sessions/:sessionId" element={<SessionPage />} />
          <Route path="/analytics" element={<AnalyticsPage />} />
          <Route path="/agents" element={<AgentsPage />} />
          <Route path="/alerts" element={<AlertsPage />} />
          <Route path="/settings" element={<SettingsPage />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </div>
  );
}
