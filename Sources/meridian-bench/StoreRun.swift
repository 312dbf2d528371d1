import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a store scenario (``Scenario/Kind/durable`` or ``Scenario/Kind/writeAmplification``):
/// a fresh broker with persistence on in a fresh directory, the persistent subscriber, the
/// load, and the bench's own measurements (`/proc/<pid>/io`, the subscriber's counts).
struct StoreRun {
    let scenario: Scenario
    let spec: BrokerSpec
    let rep: Int
    let options: Options
    let generator: LoadGenerator
    let workDir: String

    private var store: Scenario.Store { scenario.store! }
    private var name: String { "\(scenario.name).\(spec.id).\(rep)" }
    private var clientID: String { "meridian-bench-\(scenario.name)" }
    private var filter: String { store.topicPrefix + "/#" }

    /// Starts the broker, measures, stops the broker. A broker that does not start ends the
    /// benchmark (thrown); a failure of the bench's own part is in the record.
    func run() throws -> RunRecord {
        let dataDir = "\(workDir)/\(name).store"
        let port = try Loopback.freePorts(1)[0]
        let broker = try Broker.start(
            spec, port: port, workDir: workDir, name: name, store: StoreSettings(location: dataDir, sync: store.sync))
        defer {
            broker.stop()
            if !options.keepWorkDir { try? FileManager.default.removeItem(atPath: dataDir) }
        }
        var record: RunRecord
        switch scenario.kind {
        case .writeAmplification:
            record = try writeAmplification(broker, dataDir: dataDir)
        default:
            record = try durable(broker)
        }
        if !broker.process.isRunning { record.brokerDied = true }
        return record
    }

    // MARK: - durable

    /// Subscriber created and gone offline, then the timed publish run, then the subscriber
    /// reconnects and counts what was queued for it.
    private func durable(_ broker: Broker) throws -> RunRecord {
        do {
            let subscriber = try PersistentSubscriber(port: broker.port, clientID: clientID, cleanSession: false)
            try subscriber.subscribe(filter, qos: 1)
            subscriber.disconnect()
        } catch {
            return failed(broker, "creating the offline subscriber: \(error)")
        }
        // Let the broker take the session offline before the first publish.
        sleepSeconds(0.3)

        let ioBefore = ProcFS.io(broker.pid)
        let run = try generator.run(
            scenario, against: broker, mqttVersion: options.mqttVersion, logPath: "\(workDir)/\(name).out")
        let ioAfter = ProcFS.io(broker.pid)
        if Interrupts.requested { throw Interrupted() }

        var record = RunRecord(scenario: scenario, broker: spec, rep: rep, run: run)
        let acked = Int(record.number("acked") ?? 0)
        record.measures["messages"] = Double(acked)
        if let before = ioBefore?["write_bytes"], let after = ioAfter?["write_bytes"] {
            record.measures["write_bytes"] = Double(after - before)
        }
        do {
            let subscriber = try PersistentSubscriber(port: broker.port, clientID: clientID, cleanSession: false)
            record.measures["session_present"] = subscriber.sessionPresent ? 1 : 0
            try subscriber.receive(until: acked, idle: 3, deadline: monotonicSeconds() + 60)
            let (received, unique) = subscriber.counts
            subscriber.disconnect()
            record.measures["delivered"] = Double(unique)
            record.measures["lost"] = Double(max(0, acked - unique))
            record.measures["dup"] = Double(received - unique)
        } catch {
            record.failure = "reconnecting the subscriber after the run: \(error)"
        }
        return record
    }

    // MARK: - write amplification

    /// An online subscriber acknowledges everything; a warm-up batch, then the measured batch,
    /// each waited for until the subscriber has it all and the broker's writes have stopped.
    private func writeAmplification(_ broker: Broker, dataDir: String) throws -> RunRecord {
        let subscriber: PersistentSubscriber
        do {
            subscriber = try PersistentSubscriber(port: broker.port, clientID: clientID, cleanSession: false)
            try subscriber.subscribe(filter, qos: 1)
        } catch {
            return failed(broker, "creating the subscriber: \(error)")
        }
        let receiver = Receiver(subscriber)
        defer {
            receiver.stop()
            subscriber.disconnect()
        }
        let messages = store.messages

        let warmUp = try generator.run(
            scenario, against: broker, mqttVersion: options.mqttVersion, logPath: "\(workDir)/\(name).warmup.out")
        if Interrupts.requested { throw Interrupted() }
        let warmUpResult = warmUp.result
        guard warmUpResult["status"] == "ok", warmUpResult["acked"] == "\(messages)" else {
            return failed(broker, "warm-up batch: mqttload \(warmUp.statusDescription), status \(warmUpResult["status"] ?? "none"), "
                + "acked \(warmUpResult["acked"] ?? "-") of \(messages)")
        }
        if let problem = try awaitDelivery(of: messages, to: receiver) {
            return failed(broker, "warm-up batch: \(problem)")
        }
        _ = try settle(broker.pid)
        receiver.subscriber.resetCounts()

        let ioBefore = ProcFS.io(broker.pid)
        let cpuBefore = ProcFS.cpuSeconds(broker.pid)
        let start = monotonicSeconds()
        let run = try generator.run(
            scenario, against: broker, mqttVersion: options.mqttVersion, logPath: "\(workDir)/\(name).out")
        if Interrupts.requested { throw Interrupted() }
        var record = RunRecord(scenario: scenario, broker: spec, rep: rep, run: run)
        if let problem = try awaitDelivery(of: messages, to: receiver) { record.failure = "measured batch: \(problem)" }
        let delivered = monotonicSeconds()
        let lastWrite = try settle(broker.pid)
        let ioAfter = ProcFS.io(broker.pid)
        let cpuAfter = ProcFS.cpuSeconds(broker.pid)

        let (received, unique) = receiver.subscriber.counts
        record.measures["messages"] = Double(messages)
        record.measures["delivered"] = Double(unique)
        record.measures["lost"] = Double(max(0, messages - unique))
        record.measures["dup"] = Double(received - unique)
        if let before = ioBefore?["write_bytes"], let after = ioAfter?["write_bytes"] {
            record.measures["write_bytes"] = Double(after - before)
        }
        if let before = ioBefore?["cancelled_write_bytes"], let after = ioAfter?["cancelled_write_bytes"] {
            record.measures["cancelled_write_bytes"] = Double(after - before)
        }
        if let before = cpuBefore, let after = cpuAfter {
            record.measures["broker_cpu_s"] = after - before
            // Busy until the subscriber had everything and the writes stopped, not through the quiet wait.
            record.measures["cpu_window_s"] = max(lastWrite, delivered) - start
        }
        let fileSize = { (path: String) -> Double? in
            (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue
        }
        let db = fileSize("\(dataDir)/meridian.db")
        let wal = fileSize("\(dataDir)/meridian.db-wal")
        record.measures["db_bytes"] = db
        record.measures["wal_bytes"] = wal
        if db != nil || wal != nil { record.measures["store_bytes"] = (db ?? 0) + (wal ?? 0) }
        if let error = receiver.error { record.failure = "subscriber: \(error)" }
        return record
    }

    /// Waits (bounded) until the subscriber holds `messages` distinct messages; a problem, or nil.
    private func awaitDelivery(of messages: Int, to receiver: Receiver) throws -> String? {
        let deadline = monotonicSeconds() + 30
        while receiver.subscriber.counts.unique < messages {
            if Interrupts.requested { throw Interrupted() }
            if let error = receiver.error { return "subscriber: \(error)" }
            if monotonicSeconds() > deadline {
                return "the subscriber got \(receiver.subscriber.counts.unique) of \(messages) messages within 30 s"
            }
            sleepSeconds(0.01)
        }
        return nil
    }

    private func failed(_ broker: Broker, _ reason: String) -> RunRecord {
        var record = RunRecord(
            scenario: scenario, broker: spec, rep: rep,
            run: LoadGenerator.Run(
                arguments: [], result: [:], statusDescription: "not run", wallSeconds: 0, brokerCPUSeconds: nil,
                generatorCPUSeconds: nil, machineBusySeconds: nil, outputTail: ""))
        record.failure = reason
        return record
    }
}

/// Waits until the broker's `write_bytes` has not moved for 0.5 s (at most 15 s); returns
/// when it last moved (monotonic seconds).
func settle(_ pid: pid_t) throws -> Double {
    var last = ProcFS.io(pid)?["write_bytes"]
    var lastChange = monotonicSeconds()
    let deadline = lastChange + 15
    while monotonicSeconds() - lastChange < 0.5 && monotonicSeconds() < deadline {
        if Interrupts.requested { throw Interrupted() }
        sleepSeconds(0.05)
        let now = ProcFS.io(pid)?["write_bytes"]
        if now != last {
            last = now
            lastChange = monotonicSeconds()
        }
    }
    return lastChange
}

/// Runs a subscriber's receive loop on a thread of its own until stopped.
final class Receiver {
    let subscriber: PersistentSubscriber
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var failure: Error?

    init(_ subscriber: PersistentSubscriber) {
        self.subscriber = subscriber
        let thread = Thread { [self] in
            do {
                try subscriber.receive(idle: .infinity, deadline: .infinity)
            } catch {
                lock.lock()
                failure = error
                lock.unlock()
            }
            finished.signal()
        }
        thread.start()
    }

    var error: Error? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }

    /// Stops the loop and waits for the thread (the loop checks every 0.1 s).
    func stop() {
        subscriber.stop()
        finished.wait()
    }
}
