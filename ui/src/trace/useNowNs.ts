import { useEffect, useState } from "react";

/** The clock in nanoseconds, ticking once a second while `on` (one timer per view; only what
 * reads it redraws). */
export function useNowNs(on: boolean): number {
  const [now, setNow] = useState(() => Date.now() * 1e6);
  useEffect(() => {
    if (!on) return;
    setNow(Date.now() * 1e6);
    const t = setInterval(() => setNow(Date.now() * 1e6), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}
