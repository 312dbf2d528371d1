import Foundation

/// One application message as `mosquitto_sub` printed it.
public struct ReceivedMessage: Equatable, Sendable, CustomStringConvertible {
    public let topic: String
    public let qos: Int
    public let retain: Bool
    public let payload: [UInt8]

    public init(topic: String, qos: Int, retain: Bool, payload: [UInt8]) {
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.payload = payload
    }

    public var text: String { String(decoding: payload, as: UTF8.self) }
    public var description: String { "\(topic) q\(qos)\(retain ? " retained" : "") \"\(text)\"" }
}

/// A command that had to succeed did not.
public struct ProcessFailure: Error, CustomStringConvertible {
    public let result: ProcessResult
    public var description: String { "command failed\n\(result)" }
}

extension ProcessResult {
    /// Returns self if the command exited 0, else throws with its output.
    @discardableResult
    public func requireSuccess() throws -> ProcessResult {
        guard succeeded else { throw ProcessFailure(result: self) }
        return self
    }
}

/// `mosquitto_pub`, run to completion.
public enum MosquittoPub {
    /// Publishes one message; `message == nil` sends an empty payload (`-n`). Throws if
    /// `mosquitto_pub` fails.
    @discardableResult
    public static func publish(
        port: Int,
        version: MQTTVersion,
        topic: String,
        message: String?,
        qos: Int = 0,
        retain: Bool = false,
        clientID: String? = nil,
        extra: [String] = []
    ) async throws -> ProcessResult {
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-V", version.mosquittoName, "-t", topic, "-q", "\(qos)"]
        arguments += message.map { ["-m", $0] } ?? ["-n"]
        if retain { arguments.append("-r") }
        if let clientID { arguments += ["-i", clientID] }
        return try await ProcessRunner.run("mosquitto_pub", arguments + extra, timeout: .seconds(15)).requireSuccess()
    }

    /// Publishes each line of `lines` as one message over one connection (`-l`).
    @discardableResult
    public static func publishLines(
        port: Int,
        version: MQTTVersion,
        topic: String,
        lines: [String],
        qos: Int = 0
    ) async throws -> ProcessResult {
        let arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-V", version.mosquittoName, "-t", topic, "-q", "\(qos)", "-l"]
        let input = lines.joined(separator: "\n") + "\n"
        return try await ProcessRunner.run("mosquitto_pub", arguments, stdin: input, timeout: .seconds(15)).requireSuccess()
    }
}

/// `mosquitto_sub` running in the background, printing one parseable line per message.
///
/// It runs with `-d` (debug lines tell when the SUBACK arrived) under `stdbuf -oL`
/// (line-buffered, so those lines can be read as they come) and
/// `-F 'MSG|%q|%r|%x|%t'` (QoS, retain flag, hex payload, topic). `-W` bounds its life
/// in case the test never stops it.
public final class MosquittoSub: @unchecked Sendable {
    public let process: RunningProcess
    public let topics: [String]

    /// Starts `mosquitto_sub` and waits until the broker acknowledged its subscription
    /// (skipped with `waitForSuback: false`, e.g. when the broker is expected to refuse).
    public static func start(
        port: Int,
        version: MQTTVersion,
        topics: [String],
        qos: Int = 0,
        clientID: String? = nil,
        cleanSession: Bool = true,
        sessionExpiry: UInt32? = nil,
        extra: [String] = [],
        lifetimeSeconds: Int = 60,
        waitForSuback: Bool = true
    ) async throws -> MosquittoSub {
        var arguments = [
            "-oL", try TestPaths.executable("mosquitto_sub"),
            "-h", "127.0.0.1", "-p", "\(port)", "-V", version.mosquittoName,
            "-d", "-q", "\(qos)", "-W", "\(lifetimeSeconds)", "-F", "MSG|%q|%r|%x|%t",
        ]
        for topic in topics { arguments += ["-t", topic] }
        if let clientID { arguments += ["-i", clientID] }
        if !cleanSession { arguments.append("-c") }
        if let sessionExpiry { arguments += ["-x", "\(sessionExpiry)"] }
        let sub = MosquittoSub(process: try RunningProcess("stdbuf", arguments + extra), topics: topics)
        if waitForSuback {
            do {
                try await sub.waitUntilSubscribed()
            } catch {
                sub.cleanup()
                throw error
            }
        }
        return sub
    }

    private init(process: RunningProcess, topics: [String]) {
        self.process = process
        self.topics = topics
    }

    deinit { cleanup() }

    public func waitUntilSubscribed(timeout: Duration = .seconds(10)) async throws {
        try await process.waitForStdout("SUBACK for \(topics)", timeout: timeout) { $0.contains("Subscribed (mid:") }
    }

    /// Every message printed so far, in order.
    public var messages: [ReceivedMessage] {
        process.stdout.split(separator: "\n").compactMap(Self.parse)
    }

    /// Waits until at least `count` messages have arrived and returns all of them.
    @discardableResult
    public func waitForMessages(count: Int, timeout: Duration = .seconds(10)) async throws -> [ReceivedMessage] {
        try await process.waitForStdout("\(count) message(s) on \(topics)", timeout: timeout) { text in
            text.split(separator: "\n").lazy.compactMap(Self.parse).count >= count
        }
        return messages
    }

    /// Waits for a message matching `predicate`; returns all messages up to and including it.
    @discardableResult
    public func waitForMessage(
        _ what: String,
        timeout: Duration = .seconds(10),
        where predicate: @escaping (ReceivedMessage) -> Bool
    ) async throws -> [ReceivedMessage] {
        try await process.waitForStdout("\(what) on \(topics)", timeout: timeout) { text in
            text.split(separator: "\n").lazy.compactMap(Self.parse).contains(where: predicate)
        }
        let all = messages
        let index = all.firstIndex(where: predicate)!
        return Array(all[...index])
    }

    /// SIGKILL: the connection drops without DISCONNECT, so the broker sends the will.
    @discardableResult
    public func kill9() -> ProcessExit? { process.kill9() }

    public func cleanup() { process.cleanup() }

    static func parse(_ line: Substring) -> ReceivedMessage? {
        guard line.hasPrefix("MSG|") else { return nil }
        let fields = line.split(separator: "|", maxSplits: 4, omittingEmptySubsequences: false)
        guard fields.count == 5, let qos = Int(fields[1]) else { return nil }
        return ReceivedMessage(topic: String(fields[4]), qos: qos, retain: fields[2] == "1", payload: hexBytes(fields[3]))
    }

    static func hexBytes(_ hex: Substring) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            if let byte = UInt8(hex[index..<next], radix: 16) { bytes.append(byte) }
            index = next
        }
        return bytes
    }
}
