import MeridianBridgeCore

/// A configuration option and the small parser that applies one line of it.
///
/// Each option has its own entry in ``table`` (see the `Directive+*.swift` files), in
/// place of mosquitto's single `strcmp` chain. An action reads the line's values with
/// ``ConfigLine``'s readers; the parser then rejects any value left over.
struct Directive: Sendable {
    enum Action: Sendable {
        /// Changes broker-wide settings, or the listener list.
        case global(@Sendable (inout ParserState, inout ConfigLine) throws -> Void)
        /// Changes the listener of the latest `listener` line of the same file.
        case listener(@Sendable (inout EdgeConfiguration.Listener, inout ConfigLine) throws -> Void)
        /// Changes the bridge of the latest `connection` line of the same file. `key` is the
        /// option's canonical name (aliases share it); a non-`repeatable` option may appear
        /// once per connection.
        case bridge(key: String, repeatable: Bool, @Sendable (inout BridgeSettings, inout ConfigLine) throws -> Void)
        /// `include_dir`, which the parser itself handles: it reads other files.
        case includeDirectory
    }

    let name: String
    let action: Action

    static func global(
        _ name: String,
        _ apply: @escaping @Sendable (inout ParserState, inout ConfigLine) throws -> Void
    ) -> Directive {
        Directive(name: name, action: .global(apply))
    }

    static func listener(
        _ name: String,
        _ apply: @escaping @Sendable (inout EdgeConfiguration.Listener, inout ConfigLine) throws -> Void
    ) -> Directive {
        Directive(name: name, action: .listener(apply))
    }

    /// A bridge option, with any aliases (`clientid` for `remote_clientid`).
    static func bridge(
        _ name: String,
        aliases: [String] = [],
        repeatable: Bool = false,
        _ apply: @escaping @Sendable (inout BridgeSettings, inout ConfigLine) throws -> Void
    ) -> [Directive] {
        ([name] + aliases).map { Directive(name: $0, action: .bridge(key: name, repeatable: repeatable, apply)) }
    }

    /// `name true|false`, stored at `keyPath`.
    static func boolean(_ name: String, _ keyPath: WritableKeyPath<EdgeConfiguration, Bool> & Sendable) -> Directive {
        .global(name) { state, line in
            state.configuration[keyPath: keyPath] = try line.boolean()
        }
    }

    /// `name <integer>` within `range`, stored at `keyPath`.
    static func integer(
        _ name: String,
        _ keyPath: WritableKeyPath<EdgeConfiguration, Int> & Sendable,
        in range: ClosedRange<Int>,
        note: String? = nil
    ) -> Directive {
        .global(name) { state, line in
            state.configuration[keyPath: keyPath] = try line.integer(in: range, note: note)
        }
    }

    /// `name <text to the end of the line>`, stored at `keyPath`; a later line replaces
    /// an earlier one.
    static func text(_ name: String, _ keyPath: WritableKeyPath<EdgeConfiguration, String?> & Sendable) -> Directive {
        .global(name) { state, line in
            state.configuration[keyPath: keyPath] = try line.rest()
        }
    }

    /// The largest value of the C `int` mosquitto stores most numbers in.
    static let intMax = Int(Int32.max)
}

extension Directive {
    /// Every option the parser reads, by name.
    static let table: [String: Directive] = {
        let all = [[includeDirectory], general, listeners, listenerTLS, logging, persistence, bridges].joined()
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }()

    static let includeDirectory = Directive(name: "include_dir", action: .includeDirectory)
}
