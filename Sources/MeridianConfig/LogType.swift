/// A kind of log message, as named by mosquitto's `log_type` option.
///
/// `log_type none` and `log_type all` are not cases: they read as the empty set and as
/// every case.
public enum LogType: String, Sendable, Hashable, CaseIterable {
    case debug
    case error
    case warning
    case notice
    case information
    case subscribe
    case unsubscribe
    case websockets
}
