import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// Containment: what one client or host can take from the gateway is bounded (invariant I6).
    @Suite("24 Containment", .serialized, .enabled(if: BrokerIntegration.isMeridian, "Meridian options (connect_timeout, max_publish_rate, ...)"))
    struct ContainmentTests {
        /// Opens a connection and completes CONNECT; nil if the broker closed it instead.
        static func connected(_ broker: BrokerProcess, _ version: MQTTVersion = .v5) async throws -> RawMQTTClient? {
            let client = try RawMQTTClient(port: broker.port)
            do {
                try client.send(RawPacket.connect(version, clientID: Helpers.unique("cap")))
            } catch {
                return nil  // closed at accept before the CONNECT went out
            }
            guard let frame = try await client.readPacket(timeout: .seconds(5)) else { return nil }
            guard frame.type == PacketType.connack, frame.connackCode == 0 else {
                throw RawClientError("unexpected answer to CONNECT: \(frame)")
            }
            return client
        }

        /// ``connected(_:_:)``, retried for up to 10 s while the broker refuses: the start-up probe
        /// of ``BrokerProcess`` (a bare TCP connect) holds a slot until the broker has seen it close.
        static func connectedWhenFree(_ broker: BrokerProcess) async throws -> RawMQTTClient {
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                if let client = try await connected(broker) { return client }
                if ContinuousClock.now >= deadline { throw WaitTimeout("a free connection slot within 10 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        @Test("a slowloris dribbling a CONNECT byte by byte is closed by connect_timeout while others are served")
        func slowloris() async throws {
            let broker = try await BrokerProcess.started(options: ["connect_timeout 2"])
            defer { broker.cleanup() }
            let slow = try RawMQTTClient(port: broker.port)
            defer { slow.close() }
            let bytes = RawPacket.connect(.v5, clientID: "slowloris-" + String(repeating: "x", count: 60))
            let start = ContinuousClock.now
            var closedAfter: Duration?
            var servedOthers = false
            // One byte every 100 ms: the whole CONNECT would take about 8 s, four times the timeout.
            for byte in bytes.dropLast() {
                do { try slow.send([byte]) } catch { closedAfter = ContinuousClock.now - start; break }
                do {
                    if try await slow.readPacket(timeout: .milliseconds(100)) == nil {
                        closedAfter = ContinuousClock.now - start
                        break
                    }
                    Issue.record("the broker answered a partial CONNECT")
                    return
                } catch is WaitTimeout {}
                if !servedOthers && ContinuousClock.now - start > .milliseconds(500) {
                    // Meanwhile the broker serves everyone else.
                    try await Helpers.expectBrokerServesOthers(broker)
                    servedOthers = true
                }
            }
            // Closed before the last byte went out, and not before the timeout (the upper bound leaves room
            // for the check of other clients above on a busy machine).
            let elapsed = try #require(closedAfter, "the slow connection was never closed")
            #expect(elapsed >= .milliseconds(1500) && elapsed < .seconds(10), "closed after \(elapsed)")
            #expect(servedOthers)
            try await Helpers.expectBrokerServesOthers(broker)
        }

        @Test("max_connections caps a listener; a freed slot can be used again")
        func maxConnections() async throws {
            let broker = try await BrokerProcess.started(options: ["max_connections 2"])
            defer { broker.cleanup() }
            let first = try await Self.connectedWhenFree(broker)
            let second = try await Self.connectedWhenFree(broker)
            defer { second.close() }
            #expect(try await Self.connected(broker) == nil, "a third connection was accepted")
            first.close()
            try await Self.connectedWhenFree(broker).close()
        }

        /// Connects from `source` (a loopback address) with a raw socket in Python and returns the
        /// CONNACK code, or "closed".
        static func connectFrom(_ source: String, port: Int) async throws -> String {
            let script = """
                import socket, sys
                s = socket.socket(); s.settimeout(5); s.bind((sys.argv[1], 0)); s.connect(("127.0.0.1", int(sys.argv[2])))
                s.sendall(bytes([0x10, 0x0e, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 2]) + b"py")
                data = s.recv(4)
                print(data[3] if len(data) == 4 else "closed")
                """
            let result = try await ProcessRunner.run("python3", ["-c", script, source, "\(port)"]).requireSuccess()
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        @Test("max_connections_per_address caps one source address, not the others")
        func perAddress() async throws {
            let broker = try await BrokerProcess.started(options: ["max_connections_per_address 2"])
            defer { broker.cleanup() }
            let first = try await Self.connectedWhenFree(broker)
            defer { first.close() }
            let second = try await Self.connectedWhenFree(broker)
            defer { second.close() }
            #expect(try await Self.connected(broker) == nil, "a third connection from 127.0.0.1 was accepted")
            #expect(try await Self.connectFrom("127.0.0.2", port: broker.port) == "0", "another address was refused")
            #expect(broker.stderr.contains("max_connections_per_address 2 reached"))
        }

        /// Sends `count` QoS 1 PUBLISHes at once and returns the PUBACK reason codes, in order.
        static func burst(_ client: RawMQTTClient, _ version: MQTTVersion, topic: String, count: Int) async throws -> [UInt8] {
            var packets: [UInt8] = []
            for index in 1...count {
                packets += RawPacket.publish(version, topic: topic, payload: "m\(index)", qos: 1, packetID: UInt16(index))
            }
            try client.send(packets)
            var reasons: [UInt8] = []
            for _ in 1...count { reasons.append(try #require(try await client.expectPacket(PacketType.puback).ackReason)) }
            return reasons
        }

        @Test("max_publish_rate: excess QoS 1 is answered 0x96 in 5.0, counted, and other clients are unaffected")
        func publishRateV5() async throws {
            let broker = try await BrokerProcess.started(options: ["max_publish_rate 5", "sys_interval 1"])
            defer { broker.cleanup() }
            let topic = Helpers.unique("rate")
            let sub = try await MosquittoSub.start(port: broker.port, version: .v5, topics: [topic], qos: 1)
            defer { sub.cleanup() }
            let flooder = try #require(try await Self.connected(broker))
            defer { flooder.close() }
            let reasons = try await Self.burst(flooder, .v5, topic: topic, count: 40)
            let accepted = reasons.filter { $0 == 0 }.count
            let limited = reasons.filter { $0 == 0x96 }.count
            #expect(accepted + limited == 40, "unexpected codes: \(reasons)")
            #expect(accepted >= 5 && limited >= 20, "accepted \(accepted), limited \(limited)")
            // Another client has its own budget.
            let other = try #require(try await Self.connected(broker))
            defer { other.close() }
            #expect(try await Self.burst(other, .v5, topic: topic, count: 5) == Array(repeating: 0, count: 5))
            let received = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: .v5, topic: topic)
            #expect(received.count == accepted + 5, "delivered \(received.count), accepted \(accepted + 5)")
            // Counted in $SYS.
            let sys = try await MosquittoSub.start(port: broker.port, version: .v5, topics: ["$SYS/broker/publish/messages/rate_limited"])
            defer { sys.cleanup() }
            try await sys.waitForMessage("rate_limited >= \(limited)") { Int($0.text) ?? 0 >= limited }
        }

        @Test("max_publish_rate: a 3.1.1 client gets its acknowledgements, and the excess is dropped")
        func publishRateV311() async throws {
            let broker = try await BrokerProcess.started(options: ["max_publish_rate 5"])
            defer { broker.cleanup() }
            let topic = Helpers.unique("rate311")
            let sub = try await MosquittoSub.start(port: broker.port, version: .v311, topics: [topic], qos: 1)
            defer { sub.cleanup() }
            let flooder = try #require(try await Self.connected(broker, .v311))
            defer { flooder.close() }
            let reasons = try await Self.burst(flooder, .v311, topic: topic, count: 40)
            #expect(reasons == Array(repeating: 0, count: 40))
            let received = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: .v311, topic: topic)
            #expect(received.count >= 5 && received.count <= 20, "delivered \(received.count) of 40")
        }
    }
}
