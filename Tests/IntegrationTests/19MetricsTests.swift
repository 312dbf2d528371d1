import Foundation
import MeridianTestSupport
import Testing

/// `GET` over loopback with curl: the status code and the body.
enum HTTPProbe {
    struct Response: CustomStringConvertible {
        var status: Int
        var body: String
        var description: String { "HTTP \(status)\n\(body)" }
    }

    static func get(port: Int, _ path: String, method: String = "GET") async throws -> Response {
        let result = try await ProcessRunner.run(
            "curl", ["-s", "-S", "--max-time", "5", "-X", method, "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"],
            timeout: .seconds(10)
        ).requireSuccess()
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.popLast() ?? "") ?? -1
        return Response(status: status, body: lines.joined(separator: "\n"))
    }

    /// The samples of a Prometheus text exposition, by series (`name{labels}`) as printed.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    static func scrape(port: Int) async throws -> [String: Double] {
        let response = try await get(port: port, "/metrics")
        guard response.status == 200 else { throw TestSetupError("/metrics answered \(response)") }
        return samples(response.body)
    }

    /// Scrapes until `condition` holds for the samples, at most `timeout`; returns the last scrape.
    static func scrape(
        port: Int, until what: String, timeout: Duration = .seconds(10), _ condition: ([String: Double]) -> Bool
    ) async throws -> [String: Double] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let samples = try await scrape(port: port)
            if condition(samples) { return samples }
            if ContinuousClock.now >= deadline { throw WaitTimeout("\(what) within \(timeout)", details: "\(samples)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension BrokerIntegration {
    @Suite("19 Prometheus metrics", .serialized, .enabled(if: BrokerIntegration.isMeridian, "http_listener is a Meridian option"))
    struct MetricsTests {
        @Test("connections, refusals, messages and bytes by QoS, subscriptions and retained messages match what clients did")
        func countsMatchTraffic() async throws {
            let http = try FreePort.allocate()
            // No $SYS: its retained messages would be counted too.
            let broker = try await BrokerProcess.started(options: ["http_listener \(http) 127.0.0.1", "sys_interval 0"])
            defer { broker.cleanup() }
            let start = try await HTTPProbe.scrape(port: http)
            #expect(start["meridian_clients_connected"] == 0)
            #expect(start["meridian_connections_total"] == 0)
            #expect(start["meridian_build_info{version=\"0.1.0\"}"] == 1)

            let topic = Helpers.unique("metrics")
            let sub = try await MosquittoSub.start(port: broker.port, version: .v5, topics: [topic], qos: 1)
            defer { sub.cleanup() }
            var idle: [RawMQTTClient] = []
            for index in 0..<3 {
                let client = try RawMQTTClient(port: broker.port)
                try await client.connect(index == 0 ? .v311 : .v5, clientID: Helpers.unique("idle"))
                idle.append(client)
            }
            defer { idle.forEach { $0.close() } }
            // A 3.1.1 client without a client identifier that asks for a persistent session: refused.
            let refused = try RawMQTTClient(port: broker.port)
            try refused.send(RawPacket.connect(.v311, clientID: "", cleanStart: false))
            let connack = try await refused.readPacket()
            #expect(connack?.body.last == 2, "\(String(describing: connack))")
            refused.close()

            let qos1 = ["one", "two", "three", "four", "five"]
            let qos0 = ["zero-a", "zero-b"]
            try await MosquittoPub.publishLines(port: broker.port, version: .v5, topic: topic, lines: qos1, qos: 1)
            try await MosquittoPub.publishLines(port: broker.port, version: .v311, topic: topic, lines: qos0, qos: 0)
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: topic + "/kept", message: "retained", qos: 0, retain: true)
            #expect(try await sub.waitForMessages(count: 7).count == 7)

            let bytes1 = Double(qos1.reduce(0) { $0 + $1.utf8.count })
            let bytes0 = Double(qos0.reduce(0) { $0 + $1.utf8.count } + "retained".utf8.count)
            let samples = try await HTTPProbe.scrape(port: http, until: "the publishers gone") {
                $0["meridian_clients_connected"] == 4
            }
            // The subscriber, three idle clients, three publishers.
            #expect(samples["meridian_connections_total"] == 7, "\(samples)")
            #expect(samples["meridian_clients_connected_peak"].map { $0 >= 5 } == true)
            #expect(samples["meridian_connection_refusals_total{reason=\"client_identifier_not_valid\"}"] == 1)
            #expect(samples["meridian_connection_refusals_total{reason=\"max_connections\"}"] == 0)
            #expect(samples["meridian_messages_received_total{qos=\"1\"}"] == 5)
            #expect(samples["meridian_messages_received_total{qos=\"0\"}"] == 3)
            #expect(samples["meridian_messages_received_total{qos=\"2\"}"] == 0)
            #expect(samples["meridian_message_payload_received_bytes_total{qos=\"1\"}"] == bytes1)
            #expect(samples["meridian_message_payload_received_bytes_total{qos=\"0\"}"] == bytes0)
            // The subscriber gets the QoS 1 messages at QoS 1 and the QoS 0 ones at QoS 0 (not the retained one: other topic).
            #expect(samples["meridian_messages_sent_total{qos=\"1\"}"] == 5)
            #expect(samples["meridian_messages_sent_total{qos=\"0\"}"] == 2)
            #expect(samples["meridian_message_payload_sent_bytes_total{qos=\"1\"}"] == bytes1)
            #expect(samples["meridian_subscriptions"] == 1)
            #expect(samples["meridian_retained_messages"] == 1)
            #expect(samples["meridian_sessions"] == 4)
            #expect(samples["meridian_messages_dropped_total{reason=\"queue_full\"}"] == 0)
            #expect(samples["meridian_queued_messages{class=\"device\"}"] == 0)
            #expect(samples["meridian_network_received_bytes_total"].map { $0 > bytes1 + bytes0 } == true)
            #expect(samples["meridian_packets_received_total"].map { $0 >= 5 + 3 + 7 } == true)
            #expect(samples["meridian_uptime_seconds"].map { $0 > 0 } == true)
        }

        @Test("store figures: commits, the commit latency histogram and the file size")
        func storeFigures() async throws {
            let http = try FreePort.allocate()
            let broker = try await BrokerProcess.started(options: ["http_listener \(http) 127.0.0.1", "persistence true"])
            defer { broker.cleanup() }
            let topic = Helpers.unique("stored")
            try await DurabilityTests.leaveSession(port: broker.port, clientID: Helpers.unique("away"), topics: [topic], qos: 1)
            try await MosquittoPub.publishLines(port: broker.port, version: .v5, topic: topic, lines: ["a", "b", "c"], qos: 1)
            let samples = try await HTTPProbe.scrape(port: http, until: "three messages queued for the absent session") {
                $0["meridian_queued_messages{class=\"device\"}"] == 3
            }
            let commits = try #require(samples["meridian_store_commits_total"])
            #expect(commits >= 1)
            #expect(samples["meridian_store_commit_duration_seconds_count"].map { $0 >= commits } == true, "\(samples)")
            #expect(samples["meridian_store_commit_duration_seconds_bucket{le=\"+Inf\"}"] == samples["meridian_store_commit_duration_seconds_count"])
            #expect(samples["meridian_store_commit_failures_total"] == 0)
            #expect(samples["meridian_store_size_bytes"].map { $0 > 0 } == true)
            #expect(samples["meridian_store_disk_low"] == 0)
        }

        @Test("a bridge's link state, queue and reconnects are series labelled with its name")
        func bridgeFigures() async throws {
            let http = try FreePort.allocate()
            let nowhere = try FreePort.allocate()
            let broker = try await BrokerProcess.started(options: [
                "http_listener \(http) 127.0.0.1", "persistence true",
                "connection uplink", "address 127.0.0.1:\(nowhere)", "topic up/# out 1", "restart_timeout 1",
            ])
            defer { broker.cleanup() }
            try await MosquittoPub.publishLines(port: broker.port, version: .v5, topic: "up/x", lines: ["q1", "q2"], qos: 1)
            let samples = try await HTTPProbe.scrape(port: http, until: "two messages queued for the absent remote") {
                $0["meridian_bridge_queued_messages{bridge=\"uplink\"}"] == 2
            }
            #expect(samples["meridian_bridge_connected{bridge=\"uplink\"}"] == 0)
            #expect(samples["meridian_bridge_forwarded_messages_total{bridge=\"uplink\"}"] == 0)
            #expect(samples["meridian_bridge_reconnects_total{bridge=\"uplink\"}"] != nil)
            // The first message has waited since it was published, i.e. since before the scrape loop began.
            let age = try #require(samples["meridian_bridge_oldest_queued_message_age_seconds{bridge=\"uplink\"}"])
            #expect(age > 0 && age < 60, "\(samples)")
            let bridgeClass = (samples["meridian_queued_messages{class=\"bridge\"}"] ?? 0)
                + (samples["meridian_inflight_messages{class=\"bridge\"}"] ?? 0)
            #expect(bridgeClass == 2, "\(samples)")
        }
    }
}
