"""The outcome of fetching and ingesting a source: one vocabulary for the fetch stage and the run."""

from __future__ import annotations

from typing import Literal

# fetch: ok | not_modified | gone | retry_later | error
# run:   new | updated | unchanged | error | gone | deferred | busy
Outcome = Literal[
    "ok", "not_modified", "gone", "retry_later", "error", "new", "updated", "unchanged", "deferred", "busy"
]
