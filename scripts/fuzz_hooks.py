"""DID-signed fuzzing for scripts/fuzz.sh (SPEC section 9), with real ids.

Two uses of one file, both run with the Python of schemathesis's virtual environment:

  python scripts/fuzz_hooks.py fixtures URL ADMIN_TOKEN API_KEY OUT.json
      Creates, through the API, the identities and objects the fuzzer needs (funded DIDs,
      registered agents, intents, negotiations in each state, pending and finalized receipts,
      stakes) and writes their ids and the signers' Ed25519 seeds to OUT.json.
  python scripts/fuzz_hooks.py summary COUNTS
      Prints, per DID-signed operation, how many cases got a 2xx (from the lines after_call wrote).

As schemathesis hooks (SCHEMATHESIS_HOOKS=scripts/fuzz_hooks.py, AINP_FUZZ_FIXTURES=OUT.json,
AINP_FUZZ_COUNTS=COUNTS):
  - map_case replaces a well-formed generated id (path `id`, `task_id`, `did`; body `intent_id`,
    `task_id`) by a real one three times in four, chosen from the fixtures that can still answer
    2xx for that operation (an accepted negotiation cannot be accepted again);
  - before_call picks the DID that may act (the intent's client, the party whose turn it is, a
    committee member for an audit...) and hands requests an auth object that signs the prepared
    request: method, path with query and the exact body bytes sent (X-AINP-DID, X-AINP-Timestamp,
    X-AINP-Signature: base64url without padding over METHOD \\n PATH \\n TIMESTAMP \\n sha256-hex);
  - after_call learns states and new ids from responses and appends one line per signed case
    (method, path template, status, error code) to COUNTS.
Only operations whose OpenAPI security names `did` are signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzz_patch  # noqa: E402,F401  (the schemathesis crash work-around, see that file)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DID_RE = re.compile(r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$")
MAX_AMOUNT = str(10**30)  # the largest amount the API takes (app/schemas/common.ts)


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


_clock_lock = threading.Lock()
_last_ms = 0


def fresh_timestamp() -> str:
    """Unix ms, strictly increasing: two equal requests never share a replay key."""
    global _last_ms
    with _clock_lock:
        _last_ms = max(int(time.time() * 1000), _last_ms + 1)
        return str(_last_ms)


class Signer:
    """A did:key (Ed25519: multicodec 0xed 0x01 + 32-byte key, base58btc with a leading z)."""

    def __init__(self, seed: bytes | None = None) -> None:
        self.key = Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
        self.seed = self.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.did = "did:key:z" + b58encode(b"\xed\x01" + public)

    def headers(self, method: str, path_with_query: str, body: bytes) -> dict[str, str]:
        ts = fresh_timestamp()
        message = f"{method.upper()}\n{path_with_query}\n{ts}\n{hashlib.sha256(body).hexdigest()}"
        signature = base64.urlsafe_b64encode(self.key.sign(message.encode())).rstrip(b"=").decode()
        return {"X-AINP-DID": self.did, "X-AINP-Timestamp": ts, "X-AINP-Signature": signature}


class SignPrepared(requests.auth.AuthBase):
    """Signs a prepared request as it will go out: requests applies auth after the body is final."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            # Send the very bytes that are signed (a str body would be encoded further down).
            raw = body.encode("utf-8")
            r.body = raw
            r.prepare_content_length(raw)
        else:
            raise TypeError(f"cannot sign a streamed body ({type(body).__name__})")
        r.headers.update(self.signer.headers(r.method or "GET", r.path_url, raw))
        return r


# ---------------------------------------------------------------------------------------------
# Fixtures, made through the API before fuzzing.

AGENT_BODY = {
    "description": "Fuzzing fixture",
    "chain_id": 8453,
    "tags": ["translation"],
    "services": [
        {"name": "A2A", "endpoint": "https://agent.example/a2a", "version": "0.3", "skills": ["translate"]}
    ],
    "supported_trust": ["reputation"],
}


class Api:
    def __init__(self, base: str, admin: str) -> None:
        self.base = base.rstrip("/")
        self.admin = admin
        self.session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        signer: Signer | None = None,
        token: str | None = None,
        expect: tuple[int, ...] = (200, 201),
    ) -> Any:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if signer:
            headers.update(signer.headers(method, path, raw))
        r = self.session.request(method, self.base + path, data=raw or None, headers=headers, timeout=60)
        if r.status_code not in expect:
            raise SystemExit(f"fuzz fixtures: {method} {path} answered {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    def deposit(self, did: str, amount: str, times: int = 1) -> None:
        for _ in range(times):
            body = {"did": did, "amount_atomic": amount, "reference": f"fuzz-{uuid.uuid4()}"}
            self.call("POST", "/api/admin/deposits", body, token=self.admin)

    def register(self, key: str, signer: Signer, name: str) -> str:
        body = {**AGENT_BODY, "name": name, "did": signer.did}
        return self.call("POST", "/api/v1/agents/register", body, signer=signer, token=key)["id"]

    def intent(self, client: Signer, budget: str) -> dict:
        body = {
            "intent_type": "translation",
            "description": "Fuzzing fixture",
            "budget_atomic": budget,
            "sla_ms": 10000,
        }
        return self.call("POST", "/api/intents", body, signer=client)

    def offer(self, provider: Signer, intent_id: str, price: str = "1000") -> dict:
        body = {"intent_id": intent_id, "price_atomic": price, "eta_ms": 5000}
        return self.call("POST", "/api/negotiations", body, signer=provider)

    def accepted(self, client: Signer, provider: Signer) -> dict:
        neg = self.offer(provider, self.intent(client, "2000000")["id"], "1000000")
        return self.call("POST", f"/api/negotiations/{neg['id']}/accept", {}, signer=client)

    def settled(self, client: Signer, provider: Signer) -> dict:
        neg = self.accepted(client, provider)
        body = {"outputs_ref": "ipfs://fuzz", "metrics": {"latency_ms": 2000}}
        return self.call("POST", f"/api/negotiations/{neg['id']}/settle", body, signer=client)


def make_fixtures(base: str, admin: str, key: str) -> dict:
    api = Api(base, admin)
    client, provider, staker, withdrawer = Signer(), Signer(), Signer(), Signer()
    committee = [Signer() for _ in range(3)]
    # Committee members must not share the provider's owner address (app/data/reputation-repository.ts).
    key2 = api.call(
        "POST",
        "/api/admin/api-keys",
        {"name": "fuzz-committee", "address": "0x00000000000000000000000000000000000000f2"},
        token=admin,
    )["key"]
    for signer, name in [(provider, "provider"), (staker, "staker"), (withdrawer, "withdrawer")]:
        api.register(key, signer, f"fuzz-{name}")
    for i, k in enumerate(committee):
        api.register(key2, k, f"fuzz-committee-{i}")

    # Money enters by admin deposit only; intents escrow their budget and offers stay within it.
    api.deposit(client.did, MAX_AMOUNT, 80)
    api.deposit(staker.did, MAX_AMOUNT, 20)
    api.deposit(withdrawer.did, MAX_AMOUNT, 3)

    # Staked committee candidates (locked past a receipt's life), then receipts with a committee.
    for k in committee:
        api.deposit(k.did, "10000000")
        api.call("POST", "/api/stakes", {"amount_atomic": "10000000", "lock_seconds": 7 * 86400}, signer=k)
    # Finalized receipts of the provider (for usefulness proofs): audited, since a receipt finalized
    # without a committee backs no proof (SPEC v3). The one seat (one per owner address) passes it,
    # then the client accepts.
    finalized = []
    signers = {k.did: k for k in committee}
    accepted_by_client = {"type": "ACCEPTED", "score": 1, "confidence": 1}
    for _ in range(12):
        receipt = api.settled(client, provider)
        task = receipt["task_id"]
        for did in receipt["committee"]:
            audit = {"type": "AUDIT_PASS", "score": 1, "confidence": 1}
            api.call("POST", f"/api/receipts/{task}/attestations", audit, signer=signers[did])
        api.call("POST", f"/api/receipts/{task}/attestations", accepted_by_client, signer=client)
        status = api.call("POST", f"/api/receipts/{task}/finalize")["status"]
        if status != "finalized":
            raise SystemExit(f"fuzz fixtures: receipt {task} is {status}, not finalized")
        finalized.append({**receipt, "status": status})
    pending = [api.settled(client, provider) for _ in range(8)]
    if not all(r["committee"] for r in pending):
        raise SystemExit("fuzz fixtures: a receipt got no committee")
    # A stake whose lock passes at once, for withdrawals.
    for _ in range(3):
        api.call("POST", "/api/stakes", {"amount_atomic": MAX_AMOUNT, "lock_seconds": 1}, signer=withdrawer)

    # Open intents with the largest budget (any offer fits), negotiations in each state; the
    # offers to propose, accept and reject are on intents of their own, so that accepting or
    # settling one leaves the intents offered on by the fuzzer open.
    open_intents = [api.intent(client, MAX_AMOUNT)["id"] for _ in range(6)]
    offered = [api.intent(client, MAX_AMOUNT)["id"] for _ in range(3)]
    cancellable = [api.intent(client, "1000")["id"] for _ in range(12)]
    proposed = [api.offer(provider, offered[i % 3]) for i in range(30)]
    accepted = [api.accepted(client, provider) for _ in range(12)]

    roles = {"client": client, "provider": provider, "staker": staker, "withdrawer": withdrawer}
    intents = {i: {"client_did": client.did, "status": "open"} for i in open_intents + offered + cancellable}
    return {
        "signers": {s.did: s.seed.hex() for s in [*roles.values(), *committee]},
        "roles": {role: s.did for role, s in roles.items()},
        "intents": intents,
        "negotiations": {n["id"]: n for n in proposed + accepted},
        "receipts": {r["task_id"]: r for r in finalized + pending},
        "pools": {
            "open_intents": open_intents,
            "cancel": cancellable,
            "propose": [n["id"] for n in proposed[0:6]],
            "accept": [n["id"] for n in proposed[6:18]],
            "reject": [n["id"] for n in proposed[18:30]],
            "settle": [n["id"] for n in accepted],
            "pending": [r["task_id"] for r in pending],
            "finalized": [r["task_id"] for r in finalized],
        },
    }


# ---------------------------------------------------------------------------------------------
# The hooks.


class State:
    """What the hooks know: the fixtures, then what responses taught."""

    def __init__(self, data: dict) -> None:
        self.signers = {did: Signer(bytes.fromhex(seed)) for did, seed in data["signers"].items()}
        self.roles = {role: self.signers[did] for role, did in data["roles"].items()}
        self.intents: dict[str, dict] = data["intents"]
        self.negotiations: dict[str, dict] = data["negotiations"]
        self.receipts: dict[str, dict] = data["receipts"]
        self.pools: dict[str, list[str]] = data["pools"]
        self.dids = list(data["signers"])
        self.proven: set[str] = set()  # receipts with a usefulness proof
        self.trace_ids: set[str] = set()  # trace ids sent in usefulness proofs
        self.attested: set[tuple[str, str, str]] = set()  # (task, signer, type) already sent
        self.lock = threading.Lock()

    def live(self, pool: str, ids: list[str]) -> list[str]:
        """The ids of `pool` that can still answer 2xx for the operation the pool serves."""
        neg = lambda i: self.negotiations.get(i, {})  # noqa: E731
        test = {
            "open_intents": lambda i: self.intents.get(i, {}).get("status") == "open",
            "cancel": lambda i: self.intents.get(i, {}).get("status") == "open",
            "propose": lambda i: neg(i).get("state") == "proposed",
            "accept": lambda i: neg(i).get("state") == "proposed",
            "reject": lambda i: neg(i).get("state") == "proposed",
            "settle": lambda i: neg(i).get("state") == "accepted",
            "pending": lambda i: self.receipts.get(i, {}).get("status") == "pending",
            "finalized": lambda i: i not in self.proven,
        }.get(pool)
        return [i for i in ids if test(i)] if test else ids

    def pick(self, pool: str, value: Any) -> str | None:
        """A real id for `value` three times in four (decided by the generated value, so repeatable)."""
        h = int.from_bytes(hashlib.sha256(repr(value).encode()).digest()[:8], "big")
        if h % 4 == 0:
            return None
        ids = self.ids(pool)
        if not ids:
            return None
        live = self.live(pool, ids) or ids
        return live[(h >> 2) % len(live)]

    def ids(self, pool: str) -> list[str]:
        if pool == "dids":
            return self.dids
        if pool == "intents":
            return list(self.intents)
        if pool == "negotiations":
            return list(self.negotiations)
        if pool == "receipts":
            return list(self.receipts)
        return self.pools.get(pool, [])

    def learn(self, body: Any) -> None:
        """Records intents, negotiations and receipts that responses show (states move)."""
        if not isinstance(body, dict):
            return
        if "task_id" in body and "committee" in body and "status" in body:
            self.receipts[body["task_id"]] = body
            if body.get("negotiation_id") in self.negotiations:  # a settle
                self.negotiations[body["negotiation_id"]]["state"] = "settled"
            if body.get("intent_id") in self.intents:
                self.intents[body["intent_id"]]["status"] = "settled"
        elif "id" in body and "state" in body and "last_offer_by" in body:
            self.negotiations[body["id"]] = body
        elif "id" in body and "budget_atomic" in body and "client_did" in body:
            self.intents[body["id"]] = {"client_did": body["client_did"], "status": body.get("status")}


_state: State | None = None


def state() -> State:
    global _state
    if _state is None:
        with open(os.environ["AINP_FUZZ_FIXTURES"]) as f:
            _state = State(json.load(f))
    return _state


def is_signed(operation: Any) -> bool:
    security = operation.definition.raw.get("security") or []
    return any("did" in requirement for requirement in security)


# (METHOD, path template) -> {path parameter: pool}; body fields below.
PATH_POOLS: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/intents/{id}"): {"id": "intents"},
    ("POST", "/api/intents/{id}/cancel"): {"id": "cancel"},
    ("GET", "/api/negotiations/{id}"): {"id": "negotiations"},
    ("POST", "/api/negotiations/{id}/propose"): {"id": "propose"},
    ("POST", "/api/negotiations/{id}/accept"): {"id": "accept"},
    ("POST", "/api/negotiations/{id}/reject"): {"id": "reject"},
    ("POST", "/api/negotiations/{id}/settle"): {"id": "settle"},
    ("GET", "/api/receipts/{task_id}"): {"task_id": "receipts"},
    ("GET", "/api/receipts/{task_id}/committee"): {"task_id": "receipts"},
    ("POST", "/api/receipts/{task_id}/finalize"): {"task_id": "receipts"},
    ("GET", "/api/receipts/{task_id}/attestations"): {"task_id": "receipts"},
    ("POST", "/api/receipts/{task_id}/attestations"): {"task_id": "pending"},
    ("GET", "/api/reputation/{did}"): {"did": "dids"},
    ("GET", "/api/usefulness/{did}"): {"did": "dids"},
    ("GET", "/api/credits/{did}"): {"did": "dids"},
}
BODY_POOLS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/negotiations"): {"intent_id": "open_intents"},
    ("POST", "/api/usefulness/proofs"): {"task_id": "finalized"},
}


def well_formed(pool: str, value: Any) -> bool:
    """Only a value the schema allows is replaced: a negative case stays negative."""
    if not isinstance(value, str):
        return False
    return bool(DID_RE.match(value) and len(value) <= 256) if pool == "dids" else bool(UUID_RE.match(value))


def _operation_key(case: Any) -> tuple[str, str]:
    return (str(case.operation.method).upper(), case.operation.path)


# Text searches that once reached PostgreSQL's text-search parser unbounded and failed it ("tsquery
# stack too small", a 500 from anyone: 33 or more `-` nest 33 NOTs). Every other case of an
# operation with a `q` takes the next of them, so each is sent in every run.
SEARCH_CORPUS = [
    "-" * 33,
    "- " * 40 + "x",
    "a" + "-" * 40 + "b",
    '"' + "-" * 33 + '"',
    "-or " * 40,
    " or ".join(["w"] * 40),
    " ".join(f"w{i}" for i in range(40)),
]
SEARCH_OPERATIONS = {("GET", "/api/v1/agents"), ("GET", "/api/discovery")}
_search_turn = 0


def map_case(context: Any, case: Any) -> Any:
    global _search_turn
    st = state()
    key = _operation_key(case)
    with st.lock:
        if key in SEARCH_OPERATIONS:
            if _search_turn % 2 == 0:
                case.query = {**(case.query or {}), "q": SEARCH_CORPUS[(_search_turn // 2) % len(SEARCH_CORPUS)]}
            _search_turn += 1
        params = case.path_parameters
        for name, pool in PATH_POOLS.get(key, {}).items():
            if params and well_formed(pool, params.get(name)):
                real = st.pick(pool, params[name])
                if real is not None:
                    params[name] = real
        body = case.body
        for name, pool in BODY_POOLS.get(key, {}).items():
            if isinstance(body, dict) and well_formed(pool, body.get(name)):
                real = st.pick(pool, body[name])
                if real is not None:
                    body[name] = real
                    # A trace_id counts once: a proof on a real receipt gets a fresh one after the first use.
                    trace = body.get("trace_id")
                    if pool == "finalized" and isinstance(trace, str) and trace in st.trace_ids:
                        body["trace_id"] = f"fuzz-{uuid.uuid4()}"
    return case


def choose_signer(case: Any) -> Signer:
    """The DID that may take this action, where the fixtures know one; else the funded client."""
    st = state()
    method, path = _operation_key(case)
    roles = st.roles
    params = case.path_parameters or {}
    body = case.body if isinstance(case.body, dict) else {}
    ident = params.get("id") if isinstance(params.get("id"), str) else None
    task = params.get("task_id") if isinstance(params.get("task_id"), str) else None
    own = lambda did: st.signers.get(did) if isinstance(did, str) else None  # noqa: E731

    if path == "/api/negotiations" and method == "POST":
        return roles["provider"]
    if path in ("/api/stakes", "/api/stakes/withdraw"):
        return roles["staker" if path == "/api/stakes" else "withdrawer"]
    if path == "/api/usefulness/proofs":
        receipt = st.receipts.get(body.get("task_id")) if isinstance(body.get("task_id"), str) else None
        return own(receipt and receipt.get("agent_did")) or roles["provider"]
    if path.startswith("/api/intents/{id}") and ident in st.intents:
        return own(st.intents[ident].get("client_did")) or roles["client"]
    if path.startswith("/api/negotiations/{id}") and ident in st.negotiations:
        n = st.negotiations[ident]
        if path.endswith("/accept") or path.endswith("/propose"):
            # The party that did not make the last offer (only it may accept).
            turn = n.get("client_did") if n.get("last_offer_by") == "agent" else n.get("agent_did")
            return own(turn) or roles["client"]
        return own(n.get("client_did")) or roles["client"]
    if path == "/api/receipts/{task_id}/attestations" and method == "POST" and task in st.receipts:
        receipt = st.receipts[task]
        kind = body.get("type") if isinstance(body.get("type"), str) else ""
        if kind in ("ACCEPTED", "REJECTED"):
            return own(receipt.get("client_did")) or roles["client"]
        members = [d for d in receipt.get("committee") or [] if d in st.signers]
        fresh = [d for d in members if (task, d, kind) not in st.attested]
        if fresh or members:
            did = (fresh or members)[0]
            st.attested.add((task, did, kind))
            return st.signers[did]
    return roles["client"]


def is_signed_case(case: Any) -> bool:
    """A case of a DID-signed operation (not one sent with another method to probe the path)."""
    return str(case.method).upper() == str(case.operation.method).upper() and is_signed(case.operation)


def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if not is_signed_case(case):
        return
    st = state()
    with st.lock:
        signer = choose_signer(case)
    # requests calls the auth object with the prepared request, whose body is the bytes sent.
    kwargs["auth"] = SignPrepared(signer)


def after_call(context: Any, case: Any, response: Any) -> None:
    st = state()
    method, path = _operation_key(case)
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    with st.lock:
        trace = case.body.get("trace_id") if isinstance(case.body, dict) else None
        if path == "/api/usefulness/proofs" and isinstance(trace, str):
            st.trace_ids.add(trace)
        if 200 <= response.status_code < 300:
            st.learn(body)
            if path == "/api/usefulness/proofs" and isinstance(body, dict):
                st.proven.add(body.get("task_id"))
            task = (case.path_parameters or {}).get("task_id")
            finalize = path == "/api/receipts/{task_id}/finalize" and isinstance(body, dict)
            if finalize and isinstance(task, str) and task in st.receipts:
                st.receipts[task]["status"] = body.get("status")
        if not is_signed_case(case):
            return
        error = body if isinstance(body, dict) and response.status_code >= 400 else {}
        code = str(error.get("error", "-"))
        message = " ".join(str(error.get("message", "-")).split())[:200]
        with open(os.environ["AINP_FUZZ_COUNTS"], "a") as f:
            f.write(f"{method}\t{path}\t{response.status_code}\t{code}\t{message}\n")


if __name__ != "__main__":
    import schemathesis

    for _hook in (map_case, before_call, after_call):
        schemathesis.hook(_hook)


# ---------------------------------------------------------------------------------------------
# The summary.


def summary(path: str) -> int:
    """Prints the 2xx count of each signed operation; fails when none got one or a signature was refused."""
    ok: Counter[str] = Counter()
    cases: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    if not os.path.exists(path):
        print("signed 2xx: no signed case was sent")
        return 1
    with open(path) as f:
        for line in f:
            method, template, status, code, _message = line.rstrip("\n").split("\t")
            op = f"{method} {template}"
            cases[op] += 1
            if status.startswith("2"):
                ok[op] += 1
            if code in ("INVALID_SIGNATURE", "STALE_SIGNATURE", "REPLAYED"):
                refused[op] += 1
    print("signed 2xx: " + ", ".join(f"{op} {ok[op]}" for op in sorted(cases)))
    total, signed = sum(ok.values()), sum(cases.values())
    print(f"signed 2xx total: {total} of {signed} signed cases in {len(cases)} operations")
    if refused:
        listed = ", ".join(f"{op} {n}" for op, n in sorted(refused.items()))
        print(f"signatures refused by the broker: {listed}")
    return 1 if refused or not total else 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "fixtures":
        fixtures = make_fixtures(sys.argv[2], sys.argv[3], sys.argv[4])
        with open(sys.argv[5], "w") as out:
            json.dump(fixtures, out)
    elif len(sys.argv) == 3 and sys.argv[1] == "summary":
        sys.exit(summary(sys.argv[2]))
    else:
        sys.exit(__doc__)
