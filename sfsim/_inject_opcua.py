"""``sfsim inject --opcua``: call a running plant's InjectFault or ClearFault method (``sfsim simulate --opcua
--control``) on the machine, line or site it targets, found by browsing the server as any client would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from asyncua import Client, Node, ua
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from shopfloor.redaction import redact
from simulator import OPCUA_NAMESPACE

from ._exit import Exit

Security = Literal["none", "sign", "sign-encrypt"]
_FOLDER = ua.NodeId(ua.ObjectIds.FolderType)
#: Objects → enterprise → site → area → line → machine: the folder levels whose nodes take the methods
_SITE_DEPTH, _LINE_DEPTH = 2, 4
#: the server's answers to a session whose user it does not accept
_IDENTITY_REFUSED = ("BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid")


class InjectError(Exception):
    """What went wrong, in words for the one who ran the command; ``code`` is its exit code."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A server's ``opc.tcp://`` URL and the user in it (``opc.tcp://user:password@host:port/path``)."""

    url: str
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """``ValueError`` saying what is wrong with ``url``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise ValueError(f"--opcua: {e}, in {redact(url)}") from None
        if parts.scheme != "opc.tcp" or not parts.hostname:
            raise ValueError(f"--opcua expects opc.tcp://[user:password@]host[:port][/path], got {redact(url)!r}")
        del port  # read for its check only
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(url, user, password)

    def __str__(self) -> str:
        return redact(self.url)


@dataclass(frozen=True, slots=True)
class _Place:
    """A node that takes the methods: a machine, line or site of the server."""

    level: Literal["machine", "line", "site"]
    id: str
    #: a line's site (a line id may be in several)
    site: str
    node: Node


async def find_targets(client: Client) -> list[_Place]:
    """Every machine, line and site the server serves, by browsing from Objects (a machine is an object of our
    MachineType; the levels above it are folders)."""
    ns = await client.get_namespace_index(OPCUA_NAMESPACE)
    machine_type = ua.NodeId("MachineType", ns)
    found: list[_Place] = []

    async def walk(node: Node, depth: int, site: str) -> None:
        for ref in await node.get_children_descriptions(refs=ua.ObjectIds.HierarchicalReferences,
                                                        nodeclassmask=ua.NodeClass.Object):
            name = ref.BrowseName
            if name.NamespaceIndex != ns:  # Server, and anything another namespace added
                continue
            child = client.get_node(ref.NodeId)
            if ref.TypeDefinition == machine_type:
                found.append(_Place("machine", name.Name, site, child))
            elif ref.TypeDefinition == _FOLDER and depth < _LINE_DEPTH:
                if depth + 1 == _SITE_DEPTH:
                    site = name.Name
                    found.append(_Place("site", site, site, child))
                elif depth + 1 == _LINE_DEPTH:
                    found.append(_Place("line", name.Name, site, child))
                await walk(child, depth + 1, site)

    await walk(client.nodes.objects, 0, "")
    return found


def choose(places: list[_Place], target: str, endpoint: Endpoint) -> _Place:
    """The place ``target`` names as a scenario names it: a machine id, a line id (or ``site/line``), a site id."""
    site, slash, line = target.rpartition("/")
    matches = [p for p in places if p.level == "line" and p.id == line and p.site == site] if slash else []
    for level in () if slash else ("machine", "line", "site"):
        matches = [p for p in places if p.level == level and p.id == target]
        if matches:
            break
    if len(matches) > 1:
        raise InjectError(f"line '{target}' is in {len(matches)} sites: write it as site/line "
                          f"({', '.join(f'{p.site}/{p.id}' for p in matches)}); nothing changed", Exit.INPUT)
    if not matches:
        served = [(level, sorted({p.id for p in places if p.level == level})) for level in ("machine", "line", "site")]
        listing = "; ".join(f"{level}s {', '.join(ids)}" for level, ids in served if ids) or "nothing of sfsim's"
        raise InjectError(f"no machine, line or site '{target}' on {endpoint} (it serves {listing}); nothing "
                          "changed", Exit.INPUT)
    return matches[0]


async def inject(endpoint: Endpoint, target: str, kind: str, params: dict[str, Any], *, security: Security,
                 cert_dir: Path, timeout_s: float) -> int:
    """Call InjectFault(kind, params as JSON) on ``target``; the event's id (``InjectError`` when refused or when
    the call could not be made)."""
    async with _Session(endpoint, security, cert_dir, timeout_s) as client:
        place = choose(await find_targets(client), target, endpoint)
        number, reason = await _call(place, "InjectFault", endpoint,
                                     ua.Variant(kind, ua.VariantType.String),
                                     ua.Variant(json.dumps(params, ensure_ascii=False, default=str),
                                                ua.VariantType.String))
    if not number:
        raise InjectError(f"refused: {reason}", Exit.INPUT)
    return int(number)


async def clear(endpoint: Endpoint, number: int, target: str | None, *, security: Security, cert_dir: Path,
                timeout_s: float) -> None:
    """Call ClearFault(number) on ``target`` or, with none, on the server's first site (an event id is the
    plant's, whichever node is called); ``InjectError`` when refused or when the call could not be made."""
    async with _Session(endpoint, security, cert_dir, timeout_s) as client:
        places = await find_targets(client)
        if target is not None:
            place = choose(places, target, endpoint)
        else:
            sites = [p for p in places if p.level == "site"]
            if not sites:
                raise InjectError(f"{endpoint} serves no site of an sfsim plant", Exit.FAILED)
            place = sites[0]
        reason = await _call(place, "ClearFault", endpoint, ua.Variant(number, ua.VariantType.UInt32))
    if reason:
        raise InjectError(f"refused: {reason}", Exit.INPUT)


async def _call(place: _Place, name: str, endpoint: Endpoint, *args: ua.Variant) -> Any:
    ns = place.node.nodeid.NamespaceIndex
    try:
        method = await place.node.get_child(f"{ns}:{name}")
    except ua.uaerrors.BadNoMatch:
        raise InjectError(f"{place.level} {place.id} on {endpoint} has no {name} method: is the plant running with "
                          "--control?", Exit.FAILED) from None
    try:
        return await place.node.call_method(method, *args)
    except ua.uaerrors.BadUserAccessDenied:  # the server's rights: only its operators may call
        if endpoint.user is None:
            raise InjectError("an anonymous session may not inject faults: give an operator's user in the URL "
                              "(opc.tcp://user:password@host:port/path) whom the plant was started with "
                              "--opcua-operator", Exit.FAILED) from None
        raise InjectError("this user may not inject faults: start the plant with --opcua-operator",
                          Exit.FAILED) from None


class _Session:
    """A connected client (``InjectError`` for a server that cannot be reached or refuses the user)."""

    def __init__(self, endpoint: Endpoint, security: Security, cert_dir: Path, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.security = security
        self.cert_dir = cert_dir
        self.timeout_s = timeout_s
        self.client = Client(endpoint.url, timeout=timeout_s)

    async def __aenter__(self) -> Client:
        client = self.client
        client.application_uri = "urn:sfsim:inject"
        client.name = client.description = "sfsim inject"
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                if self.security != "none":
                    await self._secure()
                await client.connect()
        except ua.UaStatusCodeError as e:
            name = ua.StatusCode(e.code).name
            if name in _IDENTITY_REFUSED and self.endpoint.user is None:
                raise InjectError(f"{self.endpoint} refuses anonymous sessions: give an operator's user in the URL "
                                  "(opc.tcp://user:password@host:port/path)", Exit.FAILED) from None
            if name in _IDENTITY_REFUSED:
                raise InjectError(f"{self.endpoint} refused the user name or password", Exit.FAILED) from None
            raise InjectError(f"OPC UA {self.endpoint}: {e}", Exit.FAILED) from None
        except (OSError, TimeoutError) as e:
            raise InjectError(f"cannot connect to {self.endpoint}: {e or 'no answer'}", Exit.FAILED) from None
        except ua.UaError as e:  # no endpoint with this security, most often
            raise InjectError(f"OPC UA {self.endpoint}: {e} (--opcua-security {self.security}: is it the plant's "
                              "--opcua-security?)", Exit.FAILED) from None
        return client

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        with contextlib.suppress(OSError, ua.UaError, TimeoutError):  # an unclosed session times out on the server
            await self.client.disconnect()
        # what failed while browsing or calling, in the command's words
        if isinstance(error, OSError | TimeoutError):
            raise InjectError(f"the connection to {self.endpoint} failed: {error or 'no answer'}",
                              Exit.FAILED) from None
        if isinstance(error, ua.UaError):
            raise InjectError(f"OPC UA {self.endpoint}: {error}", Exit.FAILED) from None

    async def _secure(self) -> None:
        client = self.client
        mode = ua.MessageSecurityMode.Sign if self.security == "sign" else ua.MessageSecurityMode.SignAndEncrypt
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        key, cert = self.cert_dir / "inject-key.pem", self.cert_dir / "inject-cert.der"
        await setup_self_signed_certificate(
            key, cert, client.application_uri, socket.gethostname(), [ExtendedKeyUsageOID.CLIENT_AUTH],
            {"countryName": "CN", "organizationName": "sfsim", "commonName": "sfsim inject"})
        await client.set_security(security_policies.SecurityPolicyBasic256Sha256, str(cert), str(key), mode=mode)
