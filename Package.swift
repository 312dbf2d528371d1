// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "meridian",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "meridian-edge", targets: ["meridian-edge"]),
        .executable(name: "meridian-region", targets: ["meridian-region"]),
        .executable(name: "meridian-bench", targets: ["meridian-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // Wire model and codec: pure, NIOCore only.
        .target(
            name: "MeridianMQTT",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Broker logic as pure state: sessions, routing, retained, wills. No I/O, no clocks.
        .target(
            name: "MeridianBrokerCore",
            dependencies: [
                "MeridianMQTT", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The system SQLite (apt libsqlite3-dev) through a module map.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // The system OpenSSL libcrypto (apt libssl-dev): PBKDF2-SHA512 and SHA-512 for password files,
        // behind a C header of its own that exposes no OpenSSL type (NIOSSL's BoringSSL declares them too).
        .target(name: "CCrypto", linkerSettings: [.linkedLibrary("crypto")]),
        // Password files and ACLs in Mosquitto's formats, and their decisions: pure (text in, decisions out).
        .target(
            name: "MeridianSecurity",
            dependencies: ["CCrypto", "MeridianMQTT"]
        ),
        // Durable state in one SQLite database, written off the event loops with group commit.
        .target(
            name: "MeridianStore",
            dependencies: [
                "CSQLite", "MeridianMQTT",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Pure bridge logic: topic mapping, link state machine, forwarding window, backoff.
        .target(
            name: "MeridianBridgeCore",
            dependencies: ["MeridianMQTT", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Mosquitto-style configuration parsing: pure, text in, typed settings out.
        .target(
            name: "MeridianConfig",
            dependencies: ["MeridianMQTT", "MeridianBridgeCore"]
        ),
        // Thin NIO layer: listeners, connection handler, timers, $SYS.
        .target(
            name: "MeridianBroker",
            dependencies: [
                "MeridianBrokerCore", "MeridianMQTT", "MeridianStore", "MeridianSecurity",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The bridge runtime: a local in-process client of the broker and a client of the remote.
        .target(
            name: "MeridianBridge",
            dependencies: [
                "MeridianBridgeCore", "MeridianBroker", "MeridianBrokerCore", "MeridianMQTT",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Operations endpoints: Prometheus /metrics, /healthz and /readyz over a small NIOHTTP1 server.
        .target(
            name: "MeridianOps",
            dependencies: [
                "MeridianBroker", "MeridianBridge", "MeridianStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The cluster's pure decisions: membership from etcd events, lease fencing deadlines.
        .target(
            name: "MeridianClusterCore",
            dependencies: [
                "MeridianBrokerCore", "MeridianMQTT", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The cluster's I/O: the etcd client (v3 JSON gateway) and the membership service.
        .target(
            name: "MeridianCluster",
            dependencies: [
                "MeridianClusterCore", "MeridianBrokerCore", "MeridianBroker", "MeridianMQTT",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // One broker process as services (store, broker, bridges, operations endpoint, reloads) in one
        // ServiceGroup: the wiring every executable shares.
        .target(
            name: "MeridianServices",
            dependencies: [
                "MeridianBroker", "MeridianConfig", "MeridianBrokerCore", "MeridianBridge", "MeridianBridgeCore", "MeridianOps",
                "MeridianSecurity", "MeridianStore", "MeridianMQTT",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "meridian-edge",
            dependencies: [
                "MeridianServices",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "meridian-region",
            dependencies: [
                "MeridianServices", "MeridianCluster", "MeridianClusterCore", "MeridianConfig", "MeridianBroker", "MeridianBrokerCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "meridian-bench",
            dependencies: []
        ),
        // Test-only helpers: free ports, process launchers, raw MQTT socket client.
        .target(
            name: "MeridianTestSupport",
            dependencies: ["MeridianMQTT", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "MeridianMQTTTests",
            dependencies: [
                "MeridianMQTT", "MeridianTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            resources: [.copy("Corpus")]
        ),
        .testTarget(
            name: "MeridianBrokerCoreTests",
            dependencies: ["MeridianBrokerCore", "MeridianMQTT", "MeridianTestSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "MeridianBrokerTests",
            dependencies: [
                "MeridianBroker", "MeridianBrokerCore", "MeridianMQTT", "MeridianSecurity", "MeridianTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MeridianStoreTests",
            dependencies: [
                "MeridianStore", "MeridianMQTT",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MeridianSecurityTests",
            dependencies: ["MeridianSecurity", "MeridianBrokerCore", "MeridianMQTT"]
        ),
        .testTarget(
            name: "MeridianBridgeCoreTests",
            dependencies: ["MeridianBridgeCore", "MeridianMQTT", "MeridianTestSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "MeridianClusterCoreTests",
            dependencies: ["MeridianClusterCore", "MeridianBrokerCore", "MeridianMQTT", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "MeridianClusterTests",
            dependencies: [
                "MeridianCluster", "MeridianClusterCore", "MeridianBrokerCore", "MeridianTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MeridianConfigTests",
            dependencies: ["MeridianConfig", "MeridianBridgeCore", "MeridianMQTT"]
        ),
        .testTarget(
            name: "MeridianOpsTests",
            dependencies: [
                "MeridianOps", "MeridianBroker", "MeridianBridge", "MeridianStore",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["MeridianTestSupport", "MeridianMQTT", "MeridianClusterCore", "meridian-edge", "meridian-region"],
            resources: [.copy("Scripts")]
        ),
    ],
    swiftLanguageModes: [.v5]
)

// The message path: its classes are confined to one event loop or guarded by locks, so release
// builds drop Swift's dynamic exclusivity checks there (profiled with callgrind at about a tenth
// of the instructions of a QoS 1 delivery). Debug builds and tests keep them.
let messagePath: Set = ["MeridianMQTT", "MeridianBrokerCore", "MeridianBroker", "MeridianCluster"]
for target in package.targets where messagePath.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    ]
}
