import Dispatch
import Logging
import MeridianBridge
import MeridianBroker
import MeridianConfig
import MeridianOps
import MeridianSecurity
import MeridianStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

let meridianVersion = "0.1.0"

let usage = """
    Usage: meridian-edge [--config FILE] [-p PORT]

    Meridian edge gateway: an MQTT 3.1.1 and 5.0 broker for field devices.

      -c, --config FILE   configuration file (Mosquitto syntax); default: built-in defaults
      -p, --port PORT     listen on PORT on all interfaces instead of the configured listeners
      -v, --version       print the version and exit
      -h, --help          print this help and exit

    """

func fail(_ message: String) -> Never {
    fputs("meridian-edge: \(message)\n", stderr)
    exit(1)
}

// MARK: - Arguments

var configPath: String?
var portOverride: Int?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "-c", "--config":
        guard let value = arguments.popFirst() else { fail("\(argument) needs a file") }
        configPath = value
    case "-p", "--port":
        guard let value = arguments.popFirst(), let port = Int(value), (1...65_535).contains(port) else {
            fail("\(argument) needs a port number between 1 and 65535")
        }
        portOverride = port
    case "-v", "--version":
        print("meridian-edge \(meridianVersion)")
        exit(0)
    case "-h", "--help":
        print(usage, terminator: "")
        exit(0)
    default:
        fail("unknown argument '\(argument)'\n\(usage)")
    }
}

// MARK: - Configuration

var configuration = EdgeConfiguration()
if let configPath {
    do {
        let text = try FileReading.readText(configPath)
        configuration = try EdgeConfigParser.parse(text: text, file: configPath, includeDir: FileReading.confFiles(in:))
    } catch {
        fail("\(error)")
    }
}

if let listener = configuration.listeners.first(where: { $0.bindInterface != nil }) {
    fail("listener \(listener.port): bind_interface is not supported yet; use a bind address instead")
}
for bridge in configuration.bridges {
    if let unsupported = bridge.unsupportedOption {
        fail("connection \(bridge.name): \(unsupported) is not supported yet")
    }
}
if configuration.logDestinations.contains(where: { if case .file = $0 { return true }; return $0 == .syslog || $0 == .topic }) {
    fail("log_dest: only stderr, stdout and none are supported yet")
}

var security = SecurityPolicy()
do {
    security = try SecurityFiles.policy(for: configuration)
} catch {
    fail("\(error)")
}

let logLevel = configuration.logLevel
let logToStdout = configuration.logDestinations.contains(.stdout)
let logNone = configuration.logDestinations == [.none]
LoggingSystem.bootstrap { label in
    if logNone { return SwiftLogNoOpLogHandler() }
    var handler = logToStdout ? StreamLogHandler.standardOutput(label: label) : StreamLogHandler.standardError(label: label)
    handler.logLevel = logLevel
    return handler
}
let logger = Logger(label: "meridian-edge")
logger.notice("security: \(SecurityFiles.summary(security))")
let listenerSettings = configuration.listenerSettings(portOverride: portOverride)
for warning in SecurityFiles.listenersAdmittingNobody(listenerSettings, policy: security) {
    logger.warning("\(warning)")
}

// MARK: - Store

// Created before the store so that the store's writer can feed the commit latency histogram.
let operations = OperationsEndpoint(version: meridianVersion, logger: logger)

// A file-size limit (RLIMIT_FSIZE) must surface as a failed write, not kill the process.
signal(SIGXFSZ, SIG_IGN)
var store: SQLiteStore?
var recovered: RecoveredState?
var storeDirectory: String?
if configuration.persistence {
    var directory = configuration.persistenceLocation.map { $0.isEmpty ? "." : $0 } ?? "."
    while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
    mkdir(directory, 0o750)
    var wallClock = timespec()
    clock_gettime(CLOCK_REALTIME, &wallClock)
    do {
        let sync: StoreSync = configuration.persistenceSync == .full ? .full : .normal
        let (opened, state) = try SQLiteStore.open(
            options: .init(
                directory: directory, sync: sync,
                maxBatchDelay: .milliseconds(Int64(configuration.persistenceCommitDelay)),
                observeCommit: operations.observeCommit
            ),
            now: Int64(wallClock.tv_sec),
            log: { logger.notice("\($0)") }
        )
        store = opened
        recovered = state
        storeDirectory = directory
        logger.notice("store open", metadata: ["path": "\(directory)/meridian.db", "sync": "\(sync.rawValue)"])
    } catch {
        fail("cannot open the store in \(directory): \(error)")
    }
}

// MARK: - Run

let server = BrokerServer(
    configuration: .init(
        broker: configuration.brokerSettings(),
        listeners: listenerSettings,
        sysInterval: configuration.sysInterval,
        tcpNoDelay: configuration.setTCPNoDelay,
        version: meridianVersion,
        storeDirectory: storeDirectory,
        security: security
    ),
    logger: logger,
    store: store,
    recovered: recovered
)
do {
    try server.start()
} catch {
    fail("cannot start listener: \(error)")
}
logger.notice("meridian-edge \(meridianVersion) running", metadata: [
    "node": "\(server.node.id)", "incarnation": "\(server.node.incarnation)",
])

// MARK: - Bridges

let bridgeSupervisor = BridgeSupervisor(server: server, logger: logger)
if store == nil, let bridge = configuration.bridges.first {
    logger.warning("bridge \(bridge.name): persistence is off, so bridge outboxes live in memory only")
}
do {
    try bridgeSupervisor.apply(configuration.bridges)
} catch {
    fail("\(error)")
}

// MARK: - Operations endpoint and readiness

if let http = configuration.httpListener {
    do {
        try operations.start(
            sources: .init(
                server: server, bridges: bridgeSupervisor, store: store, storeDirectory: storeDirectory,
                readyRequiresBridge: configuration.readyRequiresBridge
            ),
            host: http.bindAddress ?? "0.0.0.0", port: http.port
        )
    } catch {
        fail("cannot start http_listener \(http.port): \(error)")
    }
}

signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
signal(SIGPIPE, SIG_IGN)
let stop = DispatchSemaphore(value: 0)
let signalQueue = DispatchQueue(label: "meridian.signals")
var signalSources: [DispatchSourceSignal] = []
for signalNumber in [SIGTERM, SIGINT] {
    let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: signalQueue)
    source.setEventHandler {
        logger.notice("signal \(signalNumber) received, shutting down")
        stop.signal()
    }
    source.resume()
    signalSources.append(source)
}

// SIGHUP re-reads the configuration file and applies its bridge blocks: changed or new bridges
// are (re)started, removed ones stopped. Their outboxes are their local sessions in the store, so
// nothing queued is lost. It also re-reads allow_anonymous, the password file and the ACL file
// (kept as they were if one cannot be read or parsed) without disconnecting anyone. Other options
// take effect at the next start.
signal(SIGHUP, SIG_IGN)
let reloadSource = DispatchSource.makeSignalSource(signal: SIGHUP, queue: signalQueue)
reloadSource.setEventHandler {
    guard let configPath else {
        logger.notice("SIGHUP: no configuration file to reload")
        return
    }
    do {
        let text = try FileReading.readText(configPath)
        let reloaded = try EdgeConfigParser.parse(text: text, file: configPath, includeDir: FileReading.confFiles(in:))
        do {
            let policy = try SecurityFiles.policy(for: reloaded)
            server.updateSecurity(policy)
            logger.notice("SIGHUP: security reloaded: \(SecurityFiles.summary(policy))")
            for warning in SecurityFiles.listenersAdmittingNobody(listenerSettings, policy: policy) {
                logger.warning("SIGHUP: \(warning)")
            }
        } catch {
            logger.error("SIGHUP: security files not reloaded, the previous ones stay in force: \(error)")
        }
        if let bridge = reloaded.bridges.first(where: { $0.unsupportedOption != nil }) {
            logger.error("SIGHUP: configuration not applied: connection \(bridge.name): \(bridge.unsupportedOption!) is not supported yet")
            return
        }
        try bridgeSupervisor.apply(reloaded.bridges)
        logger.notice("SIGHUP: configuration reloaded", metadata: ["bridges": "\(reloaded.bridges.count)"])
    } catch {
        logger.error("SIGHUP: configuration not applied: \(error)")
    }
}
reloadSource.resume()

// Listeners, store, bridges, HTTP endpoint and signal handling are up (systemd Type=notify).
SystemdNotify.ready()
stop.wait()
SystemdNotify.stopping()
operations.shutdown()
bridgeSupervisor.stopAll()
server.shutdown()
store?.close()
exit(0)
