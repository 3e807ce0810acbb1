"""The controllable fake DNS server (placeholder docstring, completed below)."""

from fakes.dns.faults import Fault, FaultHandle
from fakes.dns.keys import Policy, TsigKey
from fakes.dns.log import LogEntry, QueryLog
from fakes.dns.server import DnsServer
from fakes.dns.zone import Record

__all__ = ["DnsServer", "Fault", "FaultHandle", "LogEntry", "Policy", "QueryLog", "Record", "TsigKey"]
