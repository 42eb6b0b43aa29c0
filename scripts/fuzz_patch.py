"""A work-around for a crash of the pinned schemathesis (4.32.5), loaded as a hook in every pass.

To learn links, schemathesis scans each 2xx JSON body for strings that are same-origin URLs, and
calls urlsplit on every string that starts with http:// or https://. urlsplit raises ValueError
("Invalid IPv6 URL") on a string such as "http://[x" - which this API echoes back from fuzzed
free-text fields - and the exception ends the whole run as "An internal error occurred" (seen in an
empty-cache CI run: exit 1 with no failed check). Such a string is no URL: answer None, as the
function does for every other string that is not a same-origin URL.
"""

from schemathesis.engine import observations as _observations

_same_origin_path = _observations._same_origin_path


def _tolerant_same_origin_path(value, origin):
    try:
        return _same_origin_path(value, origin)
    except ValueError:
        return None


_observations._same_origin_path = _tolerant_same_origin_path
# The patch must take: fail at load (not mid-run) if a new pin renamed the function.
assert _observations._same_origin_path("http://[x", ("http", "127.0.0.1")) is None
