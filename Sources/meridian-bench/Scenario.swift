/// One load the benchmark runs against every broker, as `mqttload` arguments.
struct Scenario {
    enum Kind {
        /// Idle connections on a freshly started broker: bytes per connection.
        case idle
        /// As fast as possible: throughput and CPU per message.
        case throughput
        /// At a fixed publish rate: p50/p99 latency.
        case latency
        /// QoS 1 publishes to an offline persistent subscriber, each committed to the store before
        /// its PUBACK: acknowledged messages per second and CPU per message, on a fresh broker.
        case durable
        /// Bytes the broker writes to disk per payload byte, at steady state, on a fresh broker.
        case writeAmplification
        /// QoS 1 publishes into a bridge's outbox while its remote is down: acknowledged messages
        /// per second, CPU and store bytes per queued message, on a fresh edge.
        case bridgeAppend
        /// A backlog queued while the remote is down, then drained into a remote Mosquitto started
        /// by the bench: CONNACK-to-first-message latency and drain rate, on a fresh edge.
        case bridgeDrain
        /// Clients of node A of a fresh 2-node cluster, A killed with `kill -9`: the time until they
        /// are all connected to node B (Meridian only).
        case failover
    }

    /// The bridge scenarios: each run starts its own edge with persistence on and one bridge
    /// (`topic bench/# out 1`), and for the drain a remote Mosquitto.
    struct Bridge {
        /// Messages published into the outbox (the backlog, for the drain).
        var messages: Int
        var payloadBytes: Int
        /// The publisher's in-flight window (`mqttload -w`).
        var window: Int
        /// The publisher's topic prefix; the bridge's rule is `bench/# out 1`.
        var topicPrefix = "bench/edge"
    }

    /// The store scenarios: each run starts its own broker with persistence on, in a fresh directory.
    struct Store {
        /// `persistence_sync` (Meridian).
        var sync: String
        /// Messages of the measured batch (and of the warm-up batch, for write amplification).
        var messages: Int
        var payloadBytes: Int
        /// Only these broker families run it.
        var families: [BrokerSpec.Family]
        /// The publisher's topic prefix (`mqttload -t`); the subscriber's filter is `<prefix>/#`.
        var topicPrefix: String
    }

    /// The cluster scenarios: each run starts a fresh region cluster of two nodes on a one-member
    /// etcd (Meridian; ``ClusterRun``) or one fresh Mosquitto, the reference.
    struct Cluster {
        /// Subscribers on node B, publishers on node A (`mqttload -o`); else both on node A.
        var crossNode: Bool
        /// For ``Kind/failover``: the clients of node A.
        var failoverClients = 0
        /// The nodes' `membership_ttl`.
        var membershipTTL = 5
    }

    let name: String
    let kind: Kind
    let title: String
    /// Load-generator arguments, without host, port, broker pid, time limit and MQTT version.
    var arguments: [String]
    /// `mqttload -T`: the run ends by itself after this many seconds.
    let timeLimit: Double
    /// Connections the scenario opens at once.
    var connections = 0
    /// Set for ``Kind/durable`` and ``Kind/writeAmplification``.
    var store: Store?
    /// Set for ``Kind/bridgeAppend`` and ``Kind/bridgeDrain``.
    var bridge: Bridge?
    /// Set for the cluster scenarios (``Kind/throughput`` and ``Kind/latency`` loads).
    var cluster: Cluster?
    /// Printed under the scenario's table.
    var note: String?

    /// Every scenario, in run order.
    static let names = defaultNames + ["bridge-drain"] + clusterNames

    /// The cluster scenarios (not run by default: each run starts an etcd and two region nodes).
    static let clusterNames = ["node-q0", "cross-q0", "node-q1", "cross-q1", "node-lat-q1", "cross-lat-q1", "failover"]

    /// The scenarios run without `--scenarios`: all but the bridge drain (a few minutes per run).
    static let defaultNames = [
        "idle", "q0-1to1", "q0-8to1", "q0-1to8", "q1-1to1", "q1-8to1", "lat-q0", "lat-q1",
        "durable-normal", "durable-full", "wa-64", "wa-4k",
        "bridge-append-64", "bridge-append-64-w100", "bridge-append-4k", "bridge-append-4k-w100",
    ]

    /// `--backlog` default: messages queued before the drain.
    static let defaultBacklog = 1_000_000

    func runs(on spec: BrokerSpec) -> Bool {
        if bridge != nil || kind == .failover { return spec.family == .meridian }
        return store.map { $0.families.contains(spec.family) } ?? true
    }

    /// Each run starts a broker of its own (store and bridge scenarios).
    var freshBroker: Bool { store != nil || bridge != nil || cluster != nil }

    /// The scenarios in run order. Full counts give runs of a few seconds against
    /// Mosquitto on a 2-core machine; `quick` counts are a smoke run.
    static func all(quick: Bool, backlog: Int = defaultBacklog) -> [Scenario] {
        func pick(_ full: Int, _ smoke: Int) -> Int { quick ? smoke : full }
        let limit: Double = quick ? 30 : 60
        let drain = ["-D", quick ? "3" : "5"]

        func pubsub(_ name: String, _ kind: Kind, qos: Int, pubs: Int, subs: Int, perPublisher: Int,
                    rate: Int = 0) -> Scenario {
            var args = ["-P", "\(pubs)", "-S", "\(subs)", "-n", "\(perPublisher)", "-s", "64", "-q", "\(qos)"]
            if qos > 0 { args += ["-w", "20"] }
            if rate > 0 { args += ["-r", "\(rate)"] }
            var title = "QoS \(qos), \(pubs) publisher\(pubs == 1 ? "" : "s") -> \(subs) subscriber\(subs == 1 ? "" : "s"), "
                + "\(grouped(pubs * perPublisher)) x 64 B"
            if subs > 1 { title += " (\(grouped(pubs * perPublisher * subs)) deliveries)" }
            if qos > 0 { title += ", 20 in flight per publisher" }
            title += rate > 0 ? ", at \(grouped(rate)) msg/s" : ", as fast as possible"
            return Scenario(
                name: name, kind: kind, title: title, arguments: args + drain, timeLimit: limit, connections: pubs + subs)
        }

        func durable(_ name: String, sync: String) -> Scenario {
            let store = Store(
                sync: sync, messages: pick(50_000, 5_000), payloadBytes: 64, families: [.meridian, .mosquitto],
                topicPrefix: "meridian-bench/durable")
            return Scenario(
                name: name, kind: .durable,
                title: "QoS 1, 1 publisher -> 1 offline persistent subscriber (clean session 0), "
                    + "\(grouped(store.messages)) x 64 B, 20 in flight, persistence on "
                    + "(Meridian persistence_sync \(sync)), no queue limit, fresh broker per run",
                arguments: publishOnly(store), timeLimit: limit, connections: 1, store: store,
                note: "msg/s: acknowledged publishes per second (first publish to last PUBACK). Meridian commits each "
                    + "message to its SQLite store before the PUBACK (persistence_sync \(sync)\(sync == "full" ? ": fsync per commit" : ": fsync at checkpoints")). "
                    + "Mosquitto keeps queues in RAM and writes its persistence file only every autosave_interval "
                    + "(1800 s) and at shutdown, so it does not give the same guarantee. "
                    + "write B/msg: the broker's /proc write_bytes during the run per message. delivered: distinct "
                    + "messages the subscriber got when it reconnected after the run, of those acknowledged.")
        }

        func writeAmplification(_ name: String, payload: Int, messages: Int) -> Scenario {
            let store = Store(
                sync: "normal", messages: messages, payloadBytes: payload, families: [.meridian],
                topicPrefix: "meridian-bench/wa")
            return Scenario(
                name: name, kind: .writeAmplification,
                title: "write amplification, QoS 1, 1 publisher -> 1 online persistent subscriber that "
                    + "acknowledges, \(grouped(messages)) x \(payload >= 1024 ? "\(payload / 1024) KB" : "\(payload) B") "
                    + "after a warm-up batch of as many, persistence_sync normal, fresh broker per run",
                arguments: publishOnly(store), timeLimit: limit, connections: 2, store: store,
                note: "subscriber: online, persistent (clean session 0, fixed client id), acknowledges every message "
                    + "(the bench's own client: mqttload has no clean-session-0 option). write amp.: the broker's "
                    + "/proc write_bytes over the measured batch (until its writes stop) / (messages x payload bytes); "
                    + "write_bytes counts 4 KiB page-cache pages dirtied in files, once per clean-to-dirty change. "
                    + "store: meridian.db + WAL after the run, broker still up. Meridian only: Mosquitto writes "
                    + "nothing during such a run.")
        }

        func bridgeAppend(_ name: String, payload: Int, messages: Int, window: Int) -> Scenario {
            let bridge = Bridge(messages: messages, payloadBytes: payload, window: window)
            return Scenario(
                name: name, kind: .bridgeAppend,
                title: "bridge outbox append, QoS 1, 1 publisher, \(grouped(messages)) x \(sizeText(payload)), "
                    + "\(window) in flight, into a bridge (topic bench/# out 1) whose remote is down, "
                    + "persistence_sync normal, fresh edge per run",
                arguments: bridgeArguments(bridge), timeLimit: limit, connections: 1, bridge: bridge,
                note: "msg/s: acknowledged publishes per second (first publish to last PUBACK); each PUBACK follows "
                    + "the message's commit to the bridge's outbox (its local session in the store). The remote is "
                    + "an address nothing listens on (restart_timeout 1 2: a refused connect every 1-2 s). "
                    + "disk B/msg: growth of meridian.db + WAL over the run / messages, the backlog still queued, "
                    + "measured once the edge's writes stopped; write B/msg: its /proc write_bytes per message.")
        }

        func bridgeDrain() -> Scenario {
            let bridge = Bridge(messages: backlog, payloadBytes: 64, window: 100)
            return Scenario(
                name: "bridge-drain", kind: .bridgeDrain,
                title: "bridge drain: \(grouped(backlog)) x 64 B QoS 1 queued while the remote is down "
                    + "(1 publisher, 100 in flight), then a remote Mosquitto started; drain_max_inflight 100, "
                    + "persistence_sync normal, fresh edge and remote per run",
                arguments: bridgeArguments(bridge), timeLimit: max(limit, Double(backlog) / 5_000), connections: 1,
                bridge: bridge,
                note: "The bridge connects to the remote through a relay in the bench, which timestamps the "
                    + "CONNACK (the remote's first bytes) and the first QoS 1 PUBLISH from the edge. CONNACK->1st: "
                    + "that interval. drain msg/s: backlog / (last - first arrival at a QoS 1 subscriber on the "
                    + "remote, the bench's own client); CONNACK->empty: CONNACK to the last arrival. edge and "
                    + "remote CPU-µs/msg: their CPU from starting the relay to the last arrival, per message. "
                    + "append msg/s: the backlog's acknowledged publishes per second. The remote: "
                    + "max_queued_messages 0, max_inflight_messages 0 (no limits).")
        }

        func clustered(_ scenario: Scenario, _ name: String, crossNode: Bool) -> Scenario {
            var scenario = scenario
            scenario = Scenario(
                name: name, kind: scenario.kind,
                title: scenario.title + (crossNode
                    ? "; Meridian: publisher on node A, subscriber on node B of a 2-node cluster"
                    : "; Meridian: publisher and subscriber on node A of a 2-node cluster"),
                arguments: scenario.arguments, timeLimit: scenario.timeLimit, connections: scenario.connections,
                cluster: Cluster(crossNode: crossNode),
                note: "fresh cluster (one-member etcd, two meridian-region nodes, link up) or fresh Mosquitto per run; "
                    + "CPU-µs/msg: both nodes' CPU over the whole run (subscribe, 1 s route wait for cross-node, "
                    + "publish, drain), etcd excluded; Mosquitto's over the same run.")
            return scenario
        }

        let connections = pick(10_000, 1_000)
        let q0 = pubsub("q0-1to1", .throughput, qos: 0, pubs: 1, subs: 1, perPublisher: pick(500_000, 50_000))
        let q1 = pubsub("q1-1to1", .throughput, qos: 1, pubs: 1, subs: 1, perPublisher: pick(150_000, 20_000))
        let latQ1 = pubsub("lat-q1", .latency, qos: 1, pubs: 1, subs: 1, perPublisher: pick(15_000, 2_500), rate: 5_000)
        return [
            Scenario(
                name: "idle", kind: .idle,
                title: "\(grouped(connections)) idle connections (MQTT CONNECT, no subscription) on a freshly started broker",
                arguments: ["-m", "idle", "-c", "\(connections)", "-H", quick ? "1" : "5"],
                timeLimit: quick ? 60 : 120, connections: connections),
            pubsub("q0-1to1", .throughput, qos: 0, pubs: 1, subs: 1, perPublisher: pick(500_000, 50_000)),
            pubsub("q0-8to1", .throughput, qos: 0, pubs: 8, subs: 1, perPublisher: pick(62_500, 6_250)),
            pubsub("q0-1to8", .throughput, qos: 0, pubs: 1, subs: 8, perPublisher: pick(62_500, 6_250)),
            pubsub("q1-1to1", .throughput, qos: 1, pubs: 1, subs: 1, perPublisher: pick(150_000, 20_000)),
            pubsub("q1-8to1", .throughput, qos: 1, pubs: 8, subs: 1, perPublisher: pick(18_750, 2_500)),
            pubsub("lat-q0", .latency, qos: 0, pubs: 1, subs: 1, perPublisher: pick(30_000, 5_000), rate: 10_000),
            pubsub("lat-q1", .latency, qos: 1, pubs: 1, subs: 1, perPublisher: pick(15_000, 2_500), rate: 5_000),
            durable("durable-normal", sync: "normal"),
            durable("durable-full", sync: "full"),
            writeAmplification("wa-64", payload: 64, messages: pick(20_000, 2_000)),
            writeAmplification("wa-4k", payload: 4096, messages: pick(5_000, 500)),
            bridgeAppend("bridge-append-64", payload: 64, messages: pick(100_000, 10_000), window: 20),
            bridgeAppend("bridge-append-64-w100", payload: 64, messages: pick(100_000, 10_000), window: 100),
            bridgeAppend("bridge-append-4k", payload: 4096, messages: pick(20_000, 2_000), window: 20),
            bridgeAppend("bridge-append-4k-w100", payload: 4096, messages: pick(20_000, 2_000), window: 100),
            bridgeDrain(),
            clustered(q0, "node-q0", crossNode: false),
            clustered(q0, "cross-q0", crossNode: true),
            clustered(q1, "node-q1", crossNode: false),
            clustered(q1, "cross-q1", crossNode: true),
            clustered(latQ1, "node-lat-q1", crossNode: false),
            clustered(latQ1, "cross-lat-q1", crossNode: true),
            Scenario(
                name: "failover", kind: .failover,
                title: "kill -9 of node A of a 2-node cluster (membership_ttl 3 s) with \(pick(100, 20)) clients: time until all are connected to node B",
                arguments: [], timeLimit: 60, connections: pick(100, 20),
                cluster: Cluster(crossNode: false, failoverClients: pick(100, 20), membershipTTL: 3),
                note: "each client (MQTT 3.1.1, its own client id) reconnects to node B with the same id, 200 ms after "
                    + "each refusal; B admits it once A's lease has ended and A's session shards are B's. "
                    + "Target (issue 13): all within membership_ttl + 2 s = 5 s. Meridian only (Mosquitto has no cluster)."),
        ]
    }
}

/// mqttload arguments of a store scenario: one QoS 1 publisher, no subscriber of its own.
private func publishOnly(_ store: Scenario.Store) -> [String] {
    ["-P", "1", "-S", "0", "-n", "\(store.messages)", "-s", "\(store.payloadBytes)", "-q", "1", "-w", "20",
     "-t", store.topicPrefix, "-D", "1"]
}

/// mqttload arguments of a bridge scenario: one QoS 1 publisher, no subscriber of its own.
private func bridgeArguments(_ bridge: Scenario.Bridge) -> [String] {
    ["-P", "1", "-S", "0", "-n", "\(bridge.messages)", "-s", "\(bridge.payloadBytes)", "-q", "1",
     "-w", "\(bridge.window)", "-t", bridge.topicPrefix, "-D", "1"]
}

/// `64` -> `"64 B"`, `4096` -> `"4 KB"`.
func sizeText(_ bytes: Int) -> String { bytes >= 1024 ? "\(bytes / 1024) KB" : "\(bytes) B" }

/// `1234567` -> `"1,234,567"`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return value < 0 ? "-" + out : out
}
