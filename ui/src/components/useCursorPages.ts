// Cursor paging over a list route (`items` + `next_cursor`), for "load more" tables.

import { keepPreviousData, useInfiniteQuery } from "@tanstack/react-query";
import type { Page } from "../api";

export function useCursorPages<T>(key: string, params: URLSearchParams, fetchPage: (p: URLSearchParams) => Promise<Page<T>>) {
  const query = useInfiniteQuery({
    queryKey: [key, params.toString()],
    queryFn: ({ pageParam }) => {
      const p = new URLSearchParams(params);
      if (pageParam) p.set("cursor", pageParam);
      return fetchPage(p);
    },
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // Keep the old rows on screen while a changed filter loads, instead of flashing empty.
    placeholderData: keepPreviousData,
  });
  return { query, items: query.data?.pages.flatMap((p) => p.items) ?? [] };
}
