import Foundation

/// Which broker binary the integration tests run against.
///
/// `meridian-edge` by default; `BROKER_UNDER_TEST=mosquitto` runs the same scenarios
/// against `mosquitto`, which is how the tests themselves are validated. Both read the
/// same generated Mosquitto-syntax config file.
public enum BrokerKind: String, Sendable, CustomStringConvertible {
    case meridian
    case mosquitto

    public static var underTest: BrokerKind {
        switch ProcessInfo.processInfo.environment["BROKER_UNDER_TEST"]?.lowercased() {
        case "mosquitto": return .mosquitto
        default: return .meridian
        }
    }

    public var description: String { rawValue }

    /// The executable and its arguments for a config file.
    func commandLine(configFile: String) throws -> (executable: String, arguments: [String]) {
        switch self {
        case .meridian: return (try TestPaths.meridianEdge(), ["--config", configFile])
        case .mosquitto: return (try TestPaths.executable("mosquitto"), ["-c", configFile])
        }
    }
}
