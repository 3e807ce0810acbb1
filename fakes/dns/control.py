"""HTTP JSON control of a DnsServer from another process (`certchaos dns serve --control`).

    GET    /                              addresses of the views and nameserver listeners, zones and settings
    GET    /records?name=N[&type=T][&view=V]     records at N (view: authoritative, resolver, ca_resolver,
                                                 secondary)
    POST   /records   {"name","type","data","ttl"?}        add one record
    PUT    /records   {"name","type","data":[...],"ttl"?}  replace the RRset ([] deletes it)
    DELETE /records?name=N[&type=T][&data=D]               delete a name, an RRset or one record
    GET    /zones                         zone settings
    POST   /zones     {"zone"}            serve one more zone
    PUT    /zones/Z   {"propagation_delay"?, "negative_ttl"?, "ca_propagation_delay"?, "ca_negative_ttl"?,
                       "secondary_propagation_delay"?, "soa_minimum"?}   the resolver view's, the CA
                       resolver view's, the secondary's zone transfer lag, the SOA's (both resolvers)
    GET    /keys                          keys, revoked flags, policies
    POST   /keys      {"name","algorithm","secret","policy"?}   add or replace a key
    POST   /keys/K/revoke | /keys/K/restore | /keys/K/rotate {"secret"}
    PUT    /keys/K/policy   {"names":[...],"types":[...]|null} or null (no restriction)
    GET    /faults                        active faults with ids
    POST   /faults    {"action","name"?,"type"?,"view"?,"latency"?,"duration"?} -> {"id"}
    DELETE /faults/ID | DELETE /faults
    GET    /log?kind=&name=&type=&view=&rcode=&key=&since=      log entries, oldest first

Errors answer 400 (bad input) or 404 (unknown path, zone or key) with {"error": "..."}.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fakes.dns.errors import FakeDnsError
from fakes.dns.resolver_faults import Fault
from fakes.dns.keys import Policy, TsigKey
from fakes.dns.resolvers import SECONDARY
from fakes.dns.server import SETTING_PREFIX, DnsServer, check_loopback


class NotFound(Exception):
    pass


class ControlServer:
    """Serves the control API on a loopback address from one thread; stop() joins it."""

    def __init__(self, dns_server: DnsServer, host: str, port: int = 0):
        check_loopback("dns --control", host)
        self.dns = dns_server
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api._respond(self, "GET")

            def do_POST(self):
                api._respond(self, "POST")

            def do_PUT(self):
                api._respond(self, "PUT")

            def do_DELETE(self):
                api._respond(self, "DELETE")

            def log_message(self, *args):  # the DNS log is the record; keep stderr for errors
                pass

        self._http = ThreadingHTTPServer((host, port), Handler)
        self._http.daemon_threads = False
        self._http.block_on_close = True  # server_close() joins the request threads
        # serve_forever checks for shutdown() every poll interval: 0.1 s keeps stop() quick.
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.1,), name="dns-control", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self._http.server_address[:2]

    @property
    def url(self) -> str:
        return "http://%s:%d" % self.address

    def start(self) -> "ControlServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._http.shutdown()
            self._thread.join()
        self._http.server_close()

    def _respond(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            length = int(request.headers.get("Content-Length") or 0)
            body = json.loads(request.rfile.read(length) or b"null")
            status, result = 200, self._route(method, parts, query, body)
        except (NotFound, KeyError) as error:
            status, result = 404, {"error": str(error.args[0] if error.args else error)}
        except (ValueError, TypeError, FakeDnsError) as error:
            status, result = 400, {"error": str(error)}
        payload = json.dumps(result).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _route(self, method: str, parts: list[str], query: dict, body):
        dns_server = self.dns
        head, rest = (parts[0], parts[1:]) if parts else ("", [])
        if (method, head, len(rest)) == ("GET", "", 0):
            addresses = {name: "%s:%d" % dns_server.address(name) for name in dns_server.listeners}
            return dict(addresses, zones=dns_server.zone_settings())
        if head == "records" and not rest:
            return self._records(method, query, body)
        if head == "zones":
            if method == "GET" and not rest:
                return dns_server.zone_settings()
            if method == "POST" and not rest:
                dns_server.add_zone(str(_fields(body, {"zone"}, required={"zone"})["zone"]))
                return dns_server.zone_settings()
            if method == "PUT" and len(rest) == 1:
                self._zone_settings(rest[0], body)
                return dns_server.zone_settings()
        if head == "keys":
            if method == "GET" and not rest:
                return dns_server.keys.describe()
            if method == "POST" and not rest:
                fields = _fields(body, {"name", "algorithm", "secret", "policy"}, required={"name", "algorithm", "secret"})
                policy = Policy.from_json(fields.get("policy") and _fields(fields["policy"], {"names", "types"}))
                dns_server.add_key(TsigKey(fields["name"], fields["algorithm"], fields["secret"], policy))
                return dns_server.keys.describe()
            if len(rest) == 2:
                name, action = rest
                if (method, action) == ("POST", "revoke"):
                    dns_server.revoke_key(name)
                elif (method, action) == ("POST", "restore"):
                    dns_server.restore_key(name)
                elif (method, action) == ("POST", "rotate"):
                    dns_server.rotate_key(name, str(_fields(body, {"secret"}, required={"secret"})["secret"]))
                elif (method, action) == ("PUT", "policy"):
                    dns_server.set_policy(name, Policy.from_json(body and _fields(body, {"names", "types"})))
                else:
                    raise NotFound(f"no {method} /keys/{name}/{action}")
                return dns_server.keys.describe()
        if head == "faults":
            if method == "GET" and not rest:
                return [dict(h.fault.to_json(), id=h.id) for h in dns_server.faults.current()]
            if method == "POST" and not rest:
                return {"id": dns_server.add_fault(Fault.from_json(_fields(body, set(), required={"action"}, open_=True))).id}
            if method == "DELETE" and not rest:
                dns_server.clear_faults()
                return []
            if method == "DELETE" and len(rest) == 1:
                dns_server.faults.remove(int(rest[0]))
                return [dict(h.fault.to_json(), id=h.id) for h in dns_server.faults.current()]
        if (method, head, len(rest)) == ("GET", "log", 0):
            since = query.pop("since", None)
            filters = {"name_glob" if k == "name" else "rtype" if k == "type" else k: v for k, v in query.items()}
            unknown = set(filters) - {"kind", "name_glob", "rtype", "view", "rcode", "key"}
            if unknown:
                raise ValueError(f"unknown log filters {sorted(unknown)}")
            entries = dns_server.log.select(since=None if since is None else float(since), **filters)
            return [entry.to_json() for entry in entries]
        raise NotFound(f"no {method} /{'/'.join(parts)}")

    def _zone_settings(self, zone: str, body) -> None:
        """Apply PUT /zones/Z: every key is checked before any is applied."""
        setters = {"soa_minimum": lambda s: self.dns.set_negative_ttl(zone, s)}
        for view, prefix in SETTING_PREFIX.items():
            setters[prefix + "propagation_delay"] = lambda s, v=view: self.dns.set_propagation_delay(zone, s, v)
            if view != SECONDARY:  # an authoritative secondary caches nothing
                setters[prefix + "negative_ttl"] = lambda s, v=view: self.dns.set_negative_ttl(zone, s, v)
        settings = {key: float(value) for key, value in _fields(body, set(setters)).items()}
        self.dns.zone(zone)  # 404 before anything changes
        for key, seconds in settings.items():
            setters[key](seconds)

    def _records(self, method: str, query: dict, body):
        dns_server = self.dns
        if method == "GET":
            name = _required(query, "name")
            records = dns_server.records(name, query.get("type"), query.get("view", "authoritative"))
            return [record.to_json() for record in records]
        if method == "DELETE":
            dns_server.remove_records(_required(query, "name"), query.get("type"), query.get("data"))
            return []
        fields = _fields(body, {"name", "type", "data", "ttl"}, required={"name", "type", "data"})
        ttl = int(fields.get("ttl", 60))
        if method == "POST":
            dns_server.add_record(fields["name"], fields["type"], str(fields["data"]), ttl)
        elif method == "PUT":
            if not isinstance(fields["data"], list):
                raise ValueError('PUT /records takes "data" as a list of records (an empty list deletes)')
            dns_server.set_records(fields["name"], fields["type"], [str(d) for d in fields["data"]], ttl)
        else:
            raise NotFound(f"no {method} /records")
        return [record.to_json() for record in dns_server.records(fields["name"], fields["type"])]


def _required(query: dict, name: str) -> str:
    if name not in query:
        raise ValueError(f"query parameter {name!r} is required")
    return query[name]


def _fields(body, allowed: set[str], required: set[str] = frozenset(), open_: bool = False) -> dict:
    """A JSON object body with only `allowed` keys (any keys if `open_`) and every `required` one."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    unknown = set(body) - allowed
    if unknown and not open_:
        raise ValueError(f"unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    missing = required - set(body)
    if missing:
        raise ValueError(f"missing fields {sorted(missing)}")
    return body
