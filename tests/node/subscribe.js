// A third-party OPC UA client for the interoperability tests: node-opcua subscribes to one variable
// and prints what happens as JSON lines on stdout, one event a line:
//   {"event": "value", "value": 12.5, "t": <ms since start>}   a data change notification
//   {"event": "connection_lost" | "reconnecting" | "reconnected" | "session_restored", "t": …}
// It keeps node-opcua's own reconnection (what Node-RED's OPC UA nodes rely on): after a server restart
// the client creates a new session, transfers or re-creates its subscription and republishes what it missed.
//
//   node subscribe.js opc.tcp://127.0.0.1:4840/sfsim/s "ns=2;s=t/s/a/L/M1/Monitoring/spindle_kw"
"use strict";

const {
    AttributeIds,
    ClientMonitoredItem,
    MessageSecurityMode,
    OPCUAClient,
    SecurityPolicy,
    TimestampsToReturn,
} = require("node-opcua-client");

const [endpoint, nodeId] = process.argv.slice(2);
if (!endpoint || !nodeId) {
    process.stderr.write("usage: node subscribe.js ENDPOINT NODE_ID\n");
    process.exit(2);
}
const started = Date.now();

function say(event, extra = {}) {
    process.stdout.write(JSON.stringify({ event, t: Date.now() - started, ...extra }) + "\n");
}

async function main() {
    const client = OPCUAClient.create({
        applicationName: "sfsim interop (node-opcua)",
        endpointMustExist: false,
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        keepSessionAlive: true,
        requestedSessionTimeout: 60000,
        // retry for ever, quickly: the test restarts the server and waits for data again
        connectionStrategy: { initialDelay: 200, maxDelay: 1000, maxRetry: 1000000 },
    });
    client.on("connection_lost", () => say("connection_lost"));
    client.on("start_reconnection", () => say("reconnecting"));
    client.on("after_reconnection", () => say("reconnected"));

    await client.connect(endpoint);
    const session = await client.createSession();
    session.on("session_restored", () => say("session_restored"));
    const subscription = await session.createSubscription2({
        requestedPublishingInterval: 100,
        requestedLifetimeCount: 600,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 0,
    });
    const item = ClientMonitoredItem.create(
        subscription,
        { nodeId, attributeId: AttributeIds.Value },
        { samplingInterval: 0, discardOldest: true, queueSize: 10 },
        TimestampsToReturn.Both,
    );
    item.on("changed", (dataValue) => say("value", { value: dataValue.value.value }));
    say("subscribed");

    const stop = async () => {
        try {
            await client.disconnect();
        } finally {
            process.exit(0);
        }
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main().catch((err) => {
    process.stderr.write(`subscribe.js: ${err.stack || err}\n`);
    process.exit(1);
});
