"""TLS for engines reached over TCP, as the Docker CLI takes it: ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``
(a folder with ``ca.pem``, ``cert.pem``, ``key.pem``), and a small CA made with ``openssl`` for inner engines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.text import t

DAYS = "7"


def tls_from_env(env: dict[str, str] | None = None) -> Any:
    """The Docker SDK's TLS config from ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` (as ``docker.from_env`` reads them),
    or None when neither is set."""
    from docker.utils import kwargs_from_env

    environment = dict(os.environ if env is None else env)
    if not (environment.get("DOCKER_TLS_VERIFY") or environment.get("DOCKER_CERT_PATH")):
        return None
    environment.setdefault("DOCKER_HOST", "tcp://127.0.0.1:2376")
    return kwargs_from_env(environment=environment).get("tls")


def tls_for(cert_path: Path) -> Any:
    """A verifying TLS config for the client certificate in ``cert_path``."""
    from docker.tls import TLSConfig

    return TLSConfig(client_cert=(str(cert_path / "cert.pem"), str(cert_path / "key.pem")), ca_cert=str(cert_path / "ca.pem"), verify=True)


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OrchlabError(t(f"openssl 이 실패했습니다: {done.stderr.strip()[-200:]}", f"openssl failed: {done.stderr.strip()[-200:]}"))


def make_ca(folder: Path) -> Path:
    """A certificate authority in ``folder`` (``ca.pem``, ``ca-key.pem``) and a client certificate signed by it
    (``client/``, a ``DOCKER_CERT_PATH``). Returns the client folder."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "ca.pem").exists():
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", DAYS,
                 "-subj", "/CN=orchlab engines CA", cwd=folder)
    client = folder / "client"
    if not (client / "cert.pem").exists():
        client.mkdir(exist_ok=True)
        _issue(folder, client, "orchlab grader", "extendedKeyUsage=clientAuth\n")
        (client / "ca.pem").write_bytes((folder / "ca.pem").read_bytes())
    return client


def issue_server(ca: Path, dest: Path, ip: str) -> None:
    """A server certificate for an engine answering at ``ip`` (``dest``: ``ca.pem``, ``cert.pem``, ``key.pem``)."""
    dest.mkdir(parents=True, exist_ok=True)
    _issue(ca, dest, ip, f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n")
    (dest / "ca.pem").write_bytes((ca / "ca.pem").read_bytes())


def _issue(ca: Path, dest: Path, name: str, extensions: str) -> None:
    (dest / "ext.cnf").write_text(extensions)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", f"/CN={name}", cwd=dest)
    _openssl("x509", "-req", "-in", "req.csr", "-CA", str(ca / "ca.pem"), "-CAkey", str(ca / "ca-key.pem"), "-CAcreateserial",
             "-CAserial", str(ca / "ca.srl"), "-out", "cert.pem", "-days", DAYS, "-extfile", "ext.cnf", cwd=dest)
    (dest / "key.pem").chmod(0o600)
