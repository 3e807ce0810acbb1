"""moto's server (Route 53, IAM, STS) as a lab process on loopback, with IAM enforced from its fourth action on.

moto lets the first INITIAL_NO_AUTH_ACTION_COUNT actions through unsigned; the lab spends exactly those on an
administrator (CreateUser, PutUserPolicy allowing everything, CreateAccessKey) and checks that the next unsigned
action is refused, so no run ever talks to an emulator that does not enforce IAM.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from harness.errors import HarnessError
from harness.stack.ports import LOOPBACK, port_or_free
from harness.stack.process import ManagedProcess
from harness.stack.service import Service
from harness.wait import Seen

# moto's server imports its services lazily and answers within a second or two; 60 s covers a loaded machine.
READY_TIMEOUT = 60.0
SETUP_ACTIONS = 3  # CreateUser, PutUserPolicy, CreateAccessKey for the administrator: then IAM is enforced
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"  # Route 53 and the global STS endpoint sign for us-east-1
ADMIN = "certchaos-admin"
LAUNCHER = Path(__file__).with_name("motoserver.py")  # runs without the harness on its path


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # the secret never reaches a journal or a log
        return f"Credentials({self.access_key_id!r}, ...)"


def client(url: str, service: str, credentials: Credentials):
    """A boto3 client of `service` at `url` (moto directly), signing as `credentials`."""
    import boto3

    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key,
                        aws_session_token=credentials.session_token)


def allow_all() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


# moto and what its server imports beyond moto itself (the moto[server] extra).
SERVER_PACKAGES = ("moto", "flask", "flask_cors")


def require_moto() -> None:
    """moto's server can be started (its package and the server's extras are installed), else one actionable
    error: asked before anything of a lab starts, without importing them (flask alone takes half a second)."""
    missing = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise HarnessError(f"aws emulator: moto's server cannot be imported (missing: {', '.join(missing)}). "
                           "Fix: scripts/setup.sh run (or pip install 'moto[server]==5.2.5')")


class AwsEmulator(Service):
    """A running moto server; `admin` signs as the lab's administrator, `url` is moto's own plain-HTTP address."""

    def __init__(self, run_dir: str | Path, port: int | None = None, python: str = sys.executable):
        self.run_dir = Path(run_dir)
        self.port = port
        self.python = python
        self.process: ManagedProcess | None = None
        self.admin: Credentials | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _start(self) -> None:
        require_moto()
        self.port = port_or_free("aws-emulator", self.port)
        self.process = ManagedProcess(
            "aws-emulator", [self.python, LAUNCHER, "-H", LOOPBACK, "-p", self.port], self.run_dir / "moto.log",
            env={"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS)})
        self.process.start()
        self.process.wait_ready(self._ready, READY_TIMEOUT, expected="to answer its moto-api")
        self.admin = self._set_up_admin()
        self._check_enforced()

    def _ready(self) -> Seen:
        response = requests.get(f"{self.url}/moto-api/data.json", timeout=2)
        return Seen(response.status_code == 200, f"HTTP {response.status_code}")

    def _set_up_admin(self) -> Credentials:
        unsigned = Credentials("unsigned", "unsigned")
        iam = client(self.url, "iam", unsigned)
        iam.create_user(UserName=ADMIN)
        iam.put_user_policy(UserName=ADMIN, PolicyName="everything", PolicyDocument=allow_all())
        key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def _check_enforced(self) -> None:
        from botocore.exceptions import ClientError

        try:
            client(self.url, "iam", Credentials("unsigned", "unsigned")).list_users()
        except ClientError:
            return
        raise HarnessError("aws emulator: moto answered an unsigned ListUsers after the set-up: IAM is not "
                           "enforced. Fix: check that nothing else sent it requests (INITIAL_NO_AUTH_ACTION_COUNT="
                           f"{SETUP_ACTIONS})")

    def facts(self) -> dict[str, str]:
        """The journal's record of this component (as stack.versions.facts gives a binary's)."""
        from importlib.metadata import version

        return {"version": version("moto"), "version_from": "python package metadata", "source": "pip",
                "origin": "moto's server from PyPI, started by harness/stack/aws/motoserver.py",
                "path": str(LAUNCHER)}

    def client(self, service: str, credentials: Credentials | None = None):
        return client(self.url, service, credentials or self.admin)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
