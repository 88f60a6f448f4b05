"""asyncua where its public API is not enough: every use of its internals, by the simulator or the edge, is here.

Written against asyncua 2.1 (pyproject.toml bounds it below 2.2). ``SEAM`` lists each internal relied
on here; tests/test_seams.py checks each against the installed asyncua, and each workaround
against a real server and client, so an upgrade that breaks one fails a test named after this module
instead of a client in the field.

Servers (the simulator's):

- **Republish** (OPC UA Part 4, 5.13.6). asyncua answers a Republish for a message it no longer
  holds, or for a subscription it does not know, with an empty *Good* NotificationMessage. Clients
  that follow the spec (node-opcua, hence Node-RED; the UA .NET stack) call Republish after a
  reconnect until the server answers ``BadMessageNotAvailable``: against asyncua they ask for ever,
  thousands of times a second, and never receive data again. ``serve_republish_per_spec`` answers as
  the spec says. Drop it when asyncua does the same: ``test_asyncua_itself_still_answers_republish_
  with_an_empty_message`` fails on that day.
- asyncua logs every ServiceFault at ERROR; the two above are the normal end of a client's catch-up,
  so they are logged at DEBUG.
- **Who may call a method.** asyncua has no per-user rights on nodes; its one public hook is the
  ``PermissionRuleset`` a server is given (``set_security_policy(…, permission_ruleset=…)``), whose
  ``check_validity(user, action_type_id, body)`` it asks for every request of a session, for every
  security policy, None included. ``MethodRights`` keeps asyncua's own role rules and denies a CallRequest
  that calls a guarded method by a user without the right (asyncua then answers the whole request
  ``BadUserAccessDenied``). Which methods a CallRequest calls is in its body, the undecoded request:
  ``called_methods`` decodes a copy, relying on asyncua handing the ruleset its ``Buffer`` positioned at the
  request's parameters (after the type id and the request header), which ``Buffer.copy`` copies from there.
- **Only the security policies a server offers.** asyncua's server opens a secure channel with
  SecurityPolicy None even when it offers only Basic256Sha256 (``SecureConnection.select_policy`` falls back
  to the connection's initial None policy, which has no permission ruleset): a client that skips the
  endpoint check reads the plant unencrypted and bypasses every rule above, a plain user calling the
  operators' methods. ``offered_policies_only`` gives such a channel a ruleset that allows nothing: it may
  still create and activate a session (asyncua asks no ruleset for those; asyncua's own client gives up
  there, finding no endpoint without security), and every other request is BadUserAccessDenied. It relies on
  ``SecureConnection._policies`` (the server's policy factories, empty on a client's connection), their
  ``matches(uri, mode)``, and on each server connection starting with a ``SecurityPolicyNone()`` of its own.
  Drop it when asyncua refuses such a channel itself: ``test_asyncua_itself_still_opens_a_channel_with_a_policy_
  it_does_not_offer`` fails on that day.
- **A server's network away** (a scenario's network outage of an OPC UA server): asyncua stops a server
  only whole. ``unplug`` stops its ``Server.bserver`` (a ``BinaryServer``: the listening socket, and every
  connection, through ``iserver.asyncio_transports``), while the internal server, its address space and its
  sessions' state go on; ``plug`` listens again with a new ``BinaryServer(iserver, host, port, limits)`` given
  the server's ``_policies``, as ``Server.start`` makes it (``_get_bind_socket_info``).
- **Undelivered notifications**: asyncua does not say whether its subscriptions still hold
  notifications for clients; ``undelivered`` reads it, so a server that stops at the end of a run
  can first let its subscribers take the last values.

  Both rely on ``Server.iserver.subscription_service`` (its ``subscriptions``, and its ``republish``,
  which every session calls), on an ``InternalSubscription``'s ``_not_acknowledged_results``,
  ``_triggered_datachanges``, ``_triggered_events``, ``pub_request_callback`` and ``data``, and on
  the wording of asyncua's ServiceFault log line.

Clients (the edge's):

- When a server goes away, asyncua's publish loop logs "Publish iteration crashed" at ERROR with a
  traceback of the closed connection; the gateway says what happened in its own words, so that
  record is logged at DEBUG too. Other failures of the loop keep their level.
- A subscription made outside ``Client.create_subscription`` joins the client's list,
  ``Client._subscriptions``, so asyncua's stale-subscription watchdog looks after it as after its own.
- A connection is aborted at the transport (``Client.uaclient.protocol.transport``), whatever state
  asyncua believes it is in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Set
from typing import Any

from asyncua import Client, Server, ua
from asyncua.common.connection import SecureConnection
from asyncua.common.subscription import Subscription
from asyncua.common.utils import Buffer, ServiceError
from asyncua.crypto.permission_rules import PermissionRuleset, SimpleRoleRuleset, User
from asyncua.server.binary_server_asyncio import BinaryServer
from asyncua.ua.ua_binary import struct_from_binary, struct_to_binary

from ._seam_check import Requirement, Seam, mentions, method

#: status codes of the Republish answers below, and asyncua's log line for a ServiceFault
_REPUBLISH_ENDS = frozenset({"BadMessageNotAvailable", "BadSubscriptionIdInvalid"})
_SERVICE_FAULT_LOG = "sending service fault response"
_PUBLISH_CRASHED_LOG = "Publish iteration crashed"
SERVER_PROCESSOR_LOGGER = "asyncua.server.uaprocessor"
CLIENT_SESSION_LOGGER = "asyncua.client.ua_session.UaSession"


def serve_republish_per_spec(server: Server) -> None:
    """Answer Republish as OPC UA Part 4 says: the message, or BadMessageNotAvailable / BadSubscriptionIdInvalid.

    Call before the server starts; it applies to this server's sessions only."""
    service = server.iserver.subscription_service

    def republish(params: ua.RepublishParameters) -> ua.NotificationMessage:
        subscription = service.subscriptions.get(params.SubscriptionId)
        if subscription is None:
            raise ServiceError(ua.StatusCodes.BadSubscriptionIdInvalid)
        # read, not popped: a message stays available until the client acknowledges it in a Publish
        result = subscription._not_acknowledged_results.get(params.RetransmitSequenceNumber)
        if result is None:
            raise ServiceError(ua.StatusCodes.BadMessageNotAvailable)
        return result.NotificationMessage

    service.republish = republish
    _quiet(SERVER_PROCESSOR_LOGGER, _republish_ended)


def undelivered(server: Server) -> list[float]:
    """The publishing intervals (s) of the server's client subscriptions that still hold notifications: queued
    for the next Publish, or sent and not yet acknowledged."""
    return [sub.data.RevisedPublishingInterval / 1000
            for sub in server.iserver.subscription_service.subscriptions.values()
            if sub.pub_request_callback is not None  # a client's, not the server's own
            and (sub._triggered_datachanges or sub._triggered_events or sub._not_acknowledged_results)]


async def unplug(server: Server) -> None:
    """Close a started server's endpoint and every connection to it, as if its network were away: it refuses
    connections until ``plug``; its address space goes on being written."""
    assert server.bserver is not None, "unplug a started server"
    await server.bserver.stop()


async def plug(server: Server) -> None:
    """Listen again on an ``unplug``ged server's endpoint (clients make new sessions)."""
    host, port = server._get_bind_socket_info()
    bserver = BinaryServer(server.iserver, host, port, server.limits)
    bserver.set_policies(server._policies)
    await bserver.start()
    server.bserver = bserver


_CALL_REQUEST = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)


class MethodRights(SimpleRoleRuleset):  # type: ignore[misc]
    """asyncua's role rules, and methods only some users may call: a CallRequest that calls one of ``guarded`` is
    denied unless ``may_call`` the session's user. Give it to ``Server.set_security_policy`` before the server
    starts; ``guarded`` is read at each request, so it may be filled while the address space is built."""

    def __init__(self, guarded: Set[ua.NodeId], may_call: Callable[[User], bool]) -> None:
        super().__init__()
        self.guarded = guarded
        self.may_call = may_call

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        if not super().check_validity(user, action_type_id, body):
            return False
        if action_type_id != _CALL_REQUEST or not self.guarded:
            return True
        try:
            called = called_methods(body)
        except Exception:  # a request asyncua could not decode either: denied rather than an internal error
            return False
        return self.may_call(user) if any(method in self.guarded for method in called) else True


class _NothingAllowed(PermissionRuleset):  # type: ignore[misc]
    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        return False


def offered_policies_only() -> None:
    """On servers of this process, a secure channel with a security policy the server does not offer may do
    nothing but create and activate a session (then every request is BadUserAccessDenied); clients' channels are
    as they were."""
    select = SecureConnection.select_policy
    if getattr(select, "offered_only", False):
        return
    nothing = _NothingAllowed()

    def select_policy(self: Any, uri: str, peer_certificate: bytes | None,
                      mode: ua.MessageSecurityMode | None = None) -> None:
        select(self, uri, peer_certificate, mode)
        if self._policies and not any(policy.matches(uri, mode) for policy in self._policies):
            # asyncua kept the connection's first policy, a None of its own that no rule guards
            self.security_policy.permissions = nothing

    select_policy.offered_only = True  # type: ignore[attr-defined]
    select_policy.asyncuas = select  # type: ignore[attr-defined]
    SecureConnection.select_policy = select_policy


def called_methods(body: Buffer) -> list[ua.NodeId]:
    """The MethodIds a CallRequest calls, from its body as asyncua hands it to a ruleset (left unread)."""
    params = struct_from_binary(ua.CallParameters, body.copy())
    return [m.MethodId for m in params.MethodsToCall or ()]


def quiet_lost_connections() -> None:
    """asyncua's client logs a lost connection at DEBUG, not as an ERROR with a traceback."""
    _quiet(CLIENT_SESSION_LOGGER, _publish_lost_connection)


def keep_watched(client: Client, subscription: Subscription) -> None:
    """Let asyncua's watchdog re-create ``subscription`` if it goes stale, as it does for its own."""
    client._subscriptions.append(subscription)


def abort(client: Client) -> None:
    """Close the client's socket whatever state asyncua thinks it is in."""
    transport = getattr(getattr(client.uaclient, "protocol", None), "transport", None)
    if transport is not None:
        transport.abort()


def _republish_ended(record: logging.LogRecord) -> bool:
    args: Any = record.args
    return (isinstance(record.msg, str) and record.msg.startswith(_SERVICE_FAULT_LOG) and isinstance(args, tuple)
            and len(args) == 2 and args[1] in _REPUBLISH_ENDS)


def _publish_lost_connection(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return (isinstance(record.msg, str) and record.msg.startswith(_PUBLISH_CRASHED_LOG)
            and isinstance(error, OSError | TimeoutError))


class _Demote(logging.Filter):
    """Records that ``matches`` are logged at DEBUG (dropped unless the logger shows DEBUG)."""

    def __init__(self, logger: logging.Logger, matches: Callable[[logging.LogRecord], bool]) -> None:
        super().__init__()
        self.logger = logger
        self.matches = matches

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.matches(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.logger.isEnabledFor(logging.DEBUG)


def _quiet(name: str, matches: Callable[[logging.LogRecord], bool]) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, _Demote) and f.matches is matches for f in logger.filters):
        logger.addFilter(_Demote(logger, matches))


# ------------------------------------------------------------ what is relied on


def _a_subscription_has(*names: str) -> Callable[[], bool]:
    def holds() -> bool:
        from asyncua.server.internal_subscription import InternalSubscription

        sub = InternalSubscription(ua.CreateSubscriptionResult(), None, None, ua.NodeId())
        return all(hasattr(sub, name) for name in names)
    return holds


def _a_server_has_subscriptions() -> bool:
    return isinstance(Server().iserver.subscription_service.subscriptions, dict)


def _a_client_has_subscriptions() -> bool:
    return isinstance(Client("opc.tcp://127.0.0.1:4840")._subscriptions, list)


def _a_client_has_a_protocol() -> bool:
    return hasattr(Client("opc.tcp://127.0.0.1:4840").uaclient, "protocol")  # None until connected


def _a_call_body_copies_to_its_methods() -> bool:
    # as asyncua's processor reads a request: type id and header first, then hands on the rest
    request = ua.CallRequest(Parameters=ua.CallParameters(MethodsToCall=[
        ua.CallMethodRequest(ObjectId=ua.NodeId("o", 2), MethodId=ua.NodeId("m", 2))]))
    body = Buffer(struct_to_binary(request))
    from asyncua.ua.ua_binary import nodeid_from_binary

    nodeid_from_binary(body)
    struct_from_binary(ua.RequestHeader, body)
    return called_methods(body) == [ua.NodeId("m", 2)] and called_methods(body) == [ua.NodeId("m", 2)]


def _all(*checks: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: all(c() for c in checks)


SEAM = Seam("asyncua", "shopfloor/_asyncua_seam.py", (
    Requirement("Server.iserver.subscription_service.subscriptions", _a_server_has_subscriptions),
    Requirement("SubscriptionService.republish(params)",
                method("asyncua.server.subscription_service:SubscriptionService", "republish", "params")),
    Requirement("InternalSession.republish calls subscription_service.republish",
                mentions("asyncua.server.internal_session:InternalSession.republish",
                         "self.subscription_service.republish(params)")),
    Requirement("InternalSubscription._not_acknowledged_results", _a_subscription_has("_not_acknowledged_results")),
    Requirement("InternalSubscription._triggered_datachanges", _a_subscription_has("_triggered_datachanges")),
    Requirement("InternalSubscription._triggered_events", _a_subscription_has("_triggered_events")),
    Requirement("InternalSubscription.pub_request_callback", _a_subscription_has("pub_request_callback", "data")),
    Requirement(f"{SERVER_PROCESSOR_LOGGER} logs '{_SERVICE_FAULT_LOG}: %s (%s)' (doc, name)", _all(
        mentions(SERVER_PROCESSOR_LOGGER, "_logger = logging.getLogger(__name__)"),
        mentions(SERVER_PROCESSOR_LOGGER, f'.error("{_SERVICE_FAULT_LOG}: %s (%s)", status.doc, status.name)'))),
    Requirement(f"{CLIENT_SESSION_LOGGER} logs '{_PUBLISH_CRASHED_LOG}' (with the exception)", _all(
        mentions("asyncua.client.ua_session:UaSession.__init__", 'logging.getLogger(f"{__name__}.UaSession")'),
        mentions("asyncua.client.ua_session:UaSession", f'.exception("{_PUBLISH_CRASHED_LOG}'))),
    Requirement("UaProcessor asks security_policy.permissions.check_validity(user, typeid, body) of every request",
                mentions("asyncua.server.uaprocessor:UaProcessor._process_message",
                         "permissions.check_validity(user, typeid, body) is False")),
    Requirement("UaProcessor decodes a CallRequest from the body it gave the ruleset",
                mentions("asyncua.server.uaprocessor:UaProcessor._process_message",
                         "params = struct_from_binary(ua.CallParameters, body)")),
    Requirement("a server's security policies, None included, are made with its permission_ruleset", _all(
        mentions("asyncua.crypto.security_policies:SecurityPolicyFactory.create",
                 "permission_ruleset=self.permission_ruleset"),
        mentions("asyncua.crypto.security_policies:SecurityPolicyNone.__init__",
                 "self.permissions = permission_ruleset"))),
    Requirement("a CallRequest body (Buffer) copies from its position and decodes to CallParameters",
                _a_call_body_copies_to_its_methods),
    Requirement("SecureConnection.select_policy(uri, peer_certificate, mode) picks from _policies", _all(
        method("asyncua.common.connection:SecureConnection", "select_policy", "uri", "peer_certificate", "mode"),
        mentions("asyncua.common.connection:SecureConnection.set_policy_factories", "self._policies = policies"),
        mentions("asyncua.common.connection:SecureConnection.select_policy", "policy.matches(uri, mode)"),
        mentions("asyncua.server.uaprocessor:UaProcessor.__init__",
                 "SecureConnection(SecurityPolicyNone(), self._limits)"))),
    Requirement("Server.start makes Server.bserver = BinaryServer(iserver, host, port, limits) with _policies", _all(
        method("asyncua.server.binary_server_asyncio:BinaryServer", "__init__", "internal_server", "hostname", "port",
               "limits"),
        mentions("asyncua.server.server:Server.start", "ipaddress, port = self._get_bind_socket_info()"),
        mentions("asyncua.server.server:Server.start",
                 "self.bserver = BinaryServer(self.iserver, ipaddress, port, self.limits)"),
        mentions("asyncua.server.server:Server.start", "self.bserver.set_policies(self._policies)"))),
    Requirement("BinaryServer.stop closes the listening socket and iserver.asyncio_transports", _all(
        mentions("asyncua.server.binary_server_asyncio:BinaryServer.stop", "self.iserver.asyncio_transports"),
        mentions("asyncua.server.binary_server_asyncio:BinaryServer.stop", "self._server.close"))),
    Requirement("Client._subscriptions", _a_client_has_subscriptions),
    Requirement("Client._stale_watchdog_loop reads _subscriptions",
                mentions("asyncua:Client._stale_watchdog_loop", "self._subscriptions")),
    Requirement("Client.uaclient.protocol", _a_client_has_a_protocol),
    Requirement("UASocketProtocol.connection_made keeps the transport",
                mentions("asyncua.client.ua_client:UASocketProtocol.connection_made", "self.transport = transport")),
))


def check() -> list[str]:
    """What the installed asyncua changed of what this module relies on (nothing: an empty list)."""
    return SEAM.check()
