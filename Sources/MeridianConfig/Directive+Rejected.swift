extension Directive {
    /// The error message for a mosquitto option that Meridian does not read, or `nil`.
    ///
    /// Rejecting these options, rather than calling them unknown or skipping them, tells
    /// an operator who brings a mosquitto.conf exactly which line Meridian cannot honour.
    static func rejection(of name: String) -> String? {
        if let message = rejections[name] { return message }
        // Plugin options are a family: auth_opt_<key>, plugin_opt_<key>.
        if name.hasPrefix("auth_opt_") || name.hasPrefix("plugin_opt_") { return notSupportedYet(name) }
        return nil
    }

    private static func notSupportedYet(_ name: String) -> String {
        "option '\(name)' is not supported yet"
    }

    /// Options that belong to later work, rejected as "not supported yet".
    private static func notSupportedYet(_ names: String...) -> [(String, String)] {
        names.map { ($0, notSupportedYet($0)) }
    }

    private static func tlsPSK(_ name: String) -> String {
        "option '\(name)' is not supported (TLS-PSK bridges; use bridge_cafile, bridge_certfile and bridge_keyfile)"
    }

    /// Mosquitto 2.0 options that Meridian rejects, grouped by the work that will add them.
    private static let rejections: [String: String] = Dictionary(uniqueKeysWithValues:
        // Authentication and access control.
        notSupportedYet(
            "psk_file", "per_listener_settings", "allow_zero_length_clientid",
            "auto_id_prefix", "use_username_as_clientid", "auth_plugin", "auth_plugin_deny_special_chars",
            "plugin", "global_plugin", "plugin_load", "plugin_use"
        )
        // TLS listener options beyond those in Directive+ListenerTLS.swift.
        + notSupportedYet("dhparamfile", "tls_engine", "tls_engine_kpass_sha1", "tls_keyform", "psk_hint")
        // Bridge options Meridian does not read yet.
        + notSupportedYet(
            "bridge_bind_address", "bridge_require_ocsp", "bridge_receive_maximum", "bridge_session_expiry_interval",
            "bridge_tcp_keepalive", "bridge_tcp_user_timeout", "local_username", "local_password"
        )
        // Persistence beyond `persistence` and `persistence_location`.
        + notSupportedYet("persistence_file", "autosave_interval", "autosave_on_changes")
        // Listener features.
        + notSupportedYet(
            "mount_point", "http_dir", "websockets_log_level", "websockets_headers_size", "max_topic_alias_broker"
        )
        // Process and logging details.
        + notSupportedYet(
            "pid_file", "user", "log_facility", "log_timestamp", "log_timestamp_format", "memory_limit",
            "upgrade_outgoing_qos", "allow_duplicate_messages", "check_retain_source", "retain_expiry_interval"
        )
        + [
            ("bind_address", "option 'bind_address' is not supported (deprecated; use 'listener <port> <address>')"),
            ("retry_interval", "option 'retry_interval' was removed in mosquitto 2.0"),
            ("bridge_identity", tlsPSK("bridge_identity")),
            ("ciphers_tls1.3", "option 'ciphers_tls1.3' is not supported (the TLS 1.3 cipher suites of BoringSSL are fixed: "
                + "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256; use tls_version and ciphers)"),
            ("bridge_psk", tlsPSK("bridge_psk")),
        ]
    )
}
