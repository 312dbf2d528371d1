/// Where log messages are written, as named by mosquitto's `log_dest` option.
public enum LogDestination: Equatable, Hashable, Sendable {
    case stderr
    case stdout
    case syslog
    /// `$SYS/broker/log/<severity>` topics.
    case topic
    /// A file, given by its path (`log_dest file <path>`). At most one per configuration.
    case file(String)
    /// Logging disabled (`log_dest none`).
    case none
}
