import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// Loop prevention (I5) with 3.1.1 bridges: Mosquitto's `try_private` marker, sent by Meridian's
    /// bridges and honoured when a Mosquitto bridge connects to Meridian.
    @Suite("15 Bridge loops", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeLoopTests {
        @Test("a Meridian 3.1.1 bridge with try_private gets no echo from mosquitto: a local device sees its message once")
        func meridianBridgeIsNotEchoed() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await BridgeTests.startEdge(remote: remote, rules: ["loop/# both 1"])
            defer { edge.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(edge)
            let device = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["loop/#"], qos: 1)
            defer { device.cleanup() }
            let cloud = try await MosquittoSub.start(port: remote.port, version: .v5, topics: ["loop/#"], qos: 1)
            defer { cloud.cleanup() }
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "loop/a", message: "from-edge", qos: 1)
            _ = try await cloud.waitForMessage("the message at the remote") { $0.text == "from-edge" }
            // A sentinel from the remote comes in over the same link, after any echo would have.
            try await MosquittoPub.publish(port: remote.port, version: .v5, topic: "loop/z", message: "sentinel", qos: 1)
            let seen = try await device.waitForMessage("the sentinel at the device") { $0.text == "sentinel" }
            #expect(seen.map(\.text) == ["from-edge", "sentinel"], "\(edge.report)")
        }

        @Test("a mosquitto bridge with try_private connecting to Meridian gets no echo")
        func mosquittoBridgeIsNotEchoed() async throws {
            let meridian = try await BrokerProcess.started()
            defer { meridian.cleanup() }
            let mosquitto = try await BrokerProcess.started(kind: .mosquitto, options: [
                "connection to-meridian", "address 127.0.0.1:\(meridian.port)", "topic loop/# both 1",
                "try_private true", "cleansession true",
            ])
            defer { mosquitto.cleanup() }
            // Wait until the bridge is subscribed on Meridian: a message published there reaches mosquitto.
            let local = try await MosquittoSub.start(port: mosquitto.port, version: .v5, topics: ["loop/#"], qos: 1)
            defer { local.cleanup() }
            let deadline = ContinuousClock.now + .seconds(15)
            while !local.messages.contains(where: { $0.text == "probe" }) {
                guard ContinuousClock.now < deadline else {
                    Issue.record("the mosquitto bridge never forwarded a probe\n\(mosquitto.report)")
                    return
                }
                try await MosquittoPub.publish(port: meridian.port, version: .v5, topic: "loop/probe", message: "probe", qos: 1)
                try await Task.sleep(for: .milliseconds(200))
            }
            try await MosquittoPub.publish(port: mosquitto.port, version: .v5, topic: "loop/b", message: "from-mosquitto", qos: 1)
            try await MosquittoPub.publish(port: meridian.port, version: .v5, topic: "loop/z", message: "sentinel", qos: 1)
            let seen = try await local.waitForMessage("the sentinel") { $0.text == "sentinel" }
            #expect(seen.filter { $0.text == "from-mosquitto" }.count == 1, "\(seen.map(\.text))\n\(meridian.report)")
        }
    
        /// Three brokers bridged in a triangle with `topic # both 1` on every link, all MQTT 5: Meridian A
        /// bridges to Meridian B and to mosquitto C, B bridges to C; mosquitto passes messages between
        /// the two bridges connected to it.
        struct Triangle {
            let a: BrokerProcess, b: BrokerProcess, c: BrokerProcess
            var all: [BrokerProcess] { [a, b, c] }
            func cleanup() { for broker in all { broker.cleanup() } }

            static func start(extra: [String]) async throws -> Triangle {
                func link(_ name: String, to remote: BrokerProcess) -> [String] {
                    ["connection \(name)", "address 127.0.0.1:\(remote.port)", "topic # both 1", "remote_clientid \(name)",
                     "bridge_protocol_version mqttv50", "cleansession true", "restart_timeout 1 2"]
                }
                let c = try await BrokerProcess.started(kind: .mosquitto)
                let b = try await BrokerProcess.started(options: extra + link("b-to-c", to: c))
                let a = try await BrokerProcess.started(options: extra + link("a-to-b", to: b) + link("a-to-c", to: c))
                let triangle = Triangle(a: a, b: b, c: c)
                try await BridgeBehaviourTests.waitUntilConnected(a, bridge: "a-to-b", times: 1)
                try await BridgeBehaviourTests.waitUntilConnected(a, bridge: "a-to-c", times: 1)
                try await BridgeBehaviourTests.waitUntilConnected(b, bridge: "b-to-c", times: 1)
                return triangle
            }

            /// Publishes probes on every broker until each broker's subscriber has seen one from every
            /// other broker: every link is then connected and subscribed.
            func waitUntilMeshed(_ subscribers: [MosquittoSub]) async throws {
                let deadline = ContinuousClock.now + .seconds(20)
                var round = 0
                while true {
                    let meshed = subscribers.enumerated().allSatisfy { index, subscriber in
                        (0..<3).filter { $0 != index }.allSatisfy { origin in
                            subscriber.messages.contains { $0.topic == "tri/probe/\(origin)" }
                        }
                    }
                    if meshed { return }
                    guard ContinuousClock.now < deadline else {
                        throw WaitTimeout("the triangle never meshed: \(subscribers.map { $0.messages.count })\n\(a.report)\n\(b.report)")
                    }
                    round += 1
                    for (index, broker) in all.enumerated() {
                        try await MosquittoPub.publish(port: broker.port, version: .v5, topic: "tri/probe/\(index)", message: "\(round)", qos: 1)
                    }
                    try await Task.sleep(for: .milliseconds(300))
                }
            }

            /// Publishes one message on each broker and returns, per broker, how many copies of each its
            /// subscriber received, once nothing more arrives.
            func copiesReceived() async throws -> [[String: Int]] {
                var subscribers: [MosquittoSub] = []
                defer { for subscriber in subscribers { subscriber.cleanup() } }
                for broker in all {
                    subscribers.append(try await MosquittoSub.start(port: broker.port, version: .v5, topics: ["tri/#"], qos: 1))
                }
                try await waitUntilMeshed(subscribers)
                for (index, broker) in all.enumerated() {
                    try await MosquittoPub.publish(port: broker.port, version: .v5, topic: "tri/m/\(index)", message: "m\(index)", qos: 1)
                }
                // Loops would keep copies coming: wait until the counts stop changing for 2 s.
                var last: [Int] = []
                for _ in 0..<20 {
                    try await Task.sleep(for: .seconds(1))
                    let counts = subscribers.map { $0.messages.filter { $0.topic.hasPrefix("tri/m/") }.count }
                    if counts == last && counts.allSatisfy({ $0 >= 3 }) { break }
                    last = counts
                }
                try await Task.sleep(for: .seconds(1))
                return subscribers.map { subscriber in
                    Dictionary(subscriber.messages.filter { $0.topic.hasPrefix("tri/m/") }.map { ($0.text, 1) }, uniquingKeysWith: +)
                }
            }
        }

        @Test("a triangle Meridian-Meridian-mosquitto with topic # both 1 everywhere delivers each message once per broker (bridge_max_hops 1)")
        func triangleDeliversOncePerBroker() async throws {
            let triangle = try await Triangle.start(extra: ["bridge_max_hops 1"])
            defer { triangle.cleanup() }
            let copies = try await triangle.copiesReceived()
            let once = ["m0": 1, "m1": 1, "m2": 1]
            #expect(copies == [once, once, once], "copies at A, B, C: \(copies)\n\(triangle.a.report)\n\(triangle.b.report)")
        }

        @Test("with the default hop limit the same triangle does not loop: each message reaches every broker, a bounded number of times")
        func triangleDoesNotLoopWithDefaultLimit() async throws {
            let triangle = try await Triangle.start(extra: [])
            defer { triangle.cleanup() }
            let copies = try await triangle.copiesReceived()
            for (broker, counts) in zip(["A", "B", "C"], copies) {
                #expect(Set(counts.keys) == ["m0", "m1", "m2"], "\(broker): \(counts)")
                #expect(counts.values.allSatisfy { $0 <= 3 }, "\(broker) received copies: \(counts)")
            }
            // Meridian drops a copy it already had: what A or B published reaches the other once.
            #expect(copies[0]["m1"] == 1 && copies[1]["m0"] == 1, "\(copies)")
        }
    }
}
