/// Reads a `meridian-region` configuration: the cluster directives are taken out here, every
/// other line is the edge's and goes to ``EdgeConfigParser`` with its line number unchanged, so
/// every mistake is reported as `file:line: message` wherever it is.
public enum RegionConfigParser {
    public static let directives: Set<String> = [
        "cluster_name", "node_name", "cluster_listener", "cluster_advertise", "etcd_endpoints", "etcd_prefix",
        "etcd_cafile", "etcd_certfile", "etcd_keyfile", "membership_ttl", "cluster_secret",
        "cluster_cafile", "cluster_certfile", "cluster_keyfile",
    ]

    public static func parse(
        text: String, file: String, includeDir: EdgeConfigParser.IncludeDirectoryReader = { _ in [] }
    ) throws -> RegionConfiguration {
        var collected = Collected()
        let edgeText = try take(text, file: file, into: &collected)
        // Included files may hold cluster directives too; their lines are blanked the same way.
        let edge = try EdgeConfigParser.parse(text: edgeText, file: file) { directory in
            try includeDir(directory).map { included in
                (included.path, try take(included.text, file: included.path, into: &collected))
            }
        }
        return RegionConfiguration(edge: edge, cluster: try collected.settings(file: file, lastLine: text.split(separator: "\n", omittingEmptySubsequences: false).count))
    }

    private struct Collected {
        var clusterName: String?
        var nodeName: String?
        var listener: (port: Int, address: String?)?
        var advertise: ClusterSettings.Endpoint?
        var endpoints: [String]?
        var prefix: String?
        var caFile: String?
        var certFile: String?
        var keyFile: String?
        var ttl: Int?
        var secret: String?
        /// mTLS between nodes: (value, line) of each.
        var linkCA: (String, ConfigLine)?
        var linkCert: (String, ConfigLine)?
        var linkKey: (String, ConfigLine)?

        func settings(file: String, lastLine: Int) throws -> ClusterSettings {
            func missing(_ option: String, _ example: String) -> ConfigError {
                ConfigError(file: file, line: lastLine, message: "\(option) is required for meridian-region (for example: \(example))")
            }
            guard let clusterName else { throw missing("cluster_name", "cluster_name eu-west") }
            guard let nodeName else { throw missing("node_name", "node_name node-1") }
            guard let listener else { throw missing("cluster_listener", "cluster_listener 7883") }
            guard let endpoints else { throw missing("etcd_endpoints", "etcd_endpoints http://127.0.0.1:2379") }
            var linkTLS: ClusterSettings.LinkTLS?
            switch (linkCA, linkCert, linkKey) {
            case (nil, nil, nil):
                break
            case let ((ca, _)?, (cert, _)?, (key, _)?):
                linkTLS = .init(caFile: ca, certFile: cert, keyFile: key)
            default:
                let given = [linkCA, linkCert, linkKey].compactMap { $0?.1 }.first!
                throw given.error("cluster_cafile, cluster_certfile and cluster_keyfile go together (mTLS between nodes)")
            }
            guard let secret = secret ?? (linkTLS != nil ? "" : nil) else {
                throw missing("cluster_secret", "cluster_secret a-long-random-string, the same on every node; or mTLS with cluster_cafile, cluster_certfile and cluster_keyfile")
            }
            var settings = ClusterSettings(clusterName: clusterName, nodeName: nodeName, listenerPort: listener.port, etcdEndpoints: endpoints)
            settings.listenerAddress = listener.address
            settings.advertise = advertise
            if let prefix { settings.etcdPrefix = prefix }
            settings.etcdCAFile = caFile
            settings.etcdCertFile = certFile
            settings.etcdKeyFile = keyFile
            if let ttl { settings.membershipTTL = ttl }
            settings.clusterSecret = secret
            settings.linkTLS = linkTLS
            return settings
        }
    }

    /// Reads the cluster directives of `text` into `collected` and returns the text with their
    /// lines left empty.
    private static func take(_ text: String, file: String, into collected: inout Collected) throws -> String {
        var kept: [Substring] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard var line = ConfigLine(raw, file: file, number: index + 1), directives.contains(line.option) else {
                kept.append(raw)
                continue
            }
            kept.append("")
            try read(&line, into: &collected)
        }
        return kept.joined(separator: "\n")
    }

    private static func read(_ line: inout ConfigLine, into collected: inout Collected) throws {
        switch line.option {
        case "cluster_name":
            collected.clusterName = try name(&line)
        case "node_name":
            collected.nodeName = try name(&line)
        case "cluster_listener":
            let port = try line.integer("port", in: 1...65_535)
            let address = line.optionalValue().map(String.init)
            try line.end()
            collected.listener = (port, address)
        case "cluster_advertise":
            let text = try line.value("HOST:PORT")
            try line.end()
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port),
                colon > text.startIndex
            else { throw line.error("expects HOST:PORT, not '\(text)'") }
            collected.advertise = .init(host: String(text[..<colon]), port: port)
        case "etcd_endpoints":
            var endpoints: [String] = []
            while let value = line.optionalValue() {
                let url = String(value)
                guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.split(separator: ":").count == 3,
                    let port = Int(url.split(separator: ":").last!), (1...65_535).contains(port)
                else { throw line.error("expects URLs like http://host:port, not '\(url)'") }
                endpoints.append(url)
            }
            guard !endpoints.isEmpty else { throw line.error("needs at least one URL (http://host:port)") }
            collected.endpoints = endpoints
        case "etcd_prefix":
            var prefix = try line.rest("path")
            while prefix.count > 1 && prefix.hasSuffix("/") { prefix.removeLast() }
            guard prefix.hasPrefix("/"), !prefix.contains(" ") else { throw line.error("expects an absolute key path such as /meridian") }
            collected.prefix = prefix
        case "etcd_cafile":
            collected.caFile = try line.rest("path")
        case "etcd_certfile":
            collected.certFile = try line.rest("path")
        case "etcd_keyfile":
            collected.keyFile = try line.rest("path")
        case "membership_ttl":
            collected.ttl = try line.integer("seconds", in: 2...3_600, note: "the lease TTL must leave time for renewals")
            try line.end()
        case "cluster_cafile":
            collected.linkCA = (try line.rest("path"), line)
        case "cluster_certfile":
            collected.linkCert = (try line.rest("path"), line)
        case "cluster_keyfile":
            collected.linkKey = (try line.rest("path"), line)
        case "cluster_secret":
            let secret = try line.rest("secret")
            guard secret.utf8.count >= 16 else { throw line.error("must be at least 16 characters (every node of the cluster shares it)") }
            collected.secret = secret
        default:
            throw line.error("unknown option '\(line.option)'")
        }
    }

    /// A cluster or node name: it becomes part of etcd keys, so no `/` and no blanks.
    private static func name(_ line: inout ConfigLine) throws -> String {
        let value = String(try line.value("name"))
        try line.end()
        guard value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw line.error("'\(value)' may hold only letters, digits, '-', '_' and '.'")
        }
        return value
    }
}
