import CSQLite
import MeridianMQTT
import NIOCore
import Testing

@testable import MeridianStore

#if canImport(Glibc)
import Glibc
#endif

// Extended result codes are macro expressions, which Swift does not import.
let SQLITE_IOERR_WRITE = SQLITE_IOERR | (3 << 8)
let SQLITE_IOERR_FSYNC = SQLITE_IOERR | (4 << 8)
let SQLITE_CONSTRAINT_PRIMARYKEY = SQLITE_CONSTRAINT | (6 << 8)

@Suite("Column encodings and SQLite error mapping")
struct ColumnAndErrorMappingTests {
    static let everyProperty: [MQTTProperty] = [
        .payloadFormatIndicator(1), .messageExpiryInterval(.max), .contentType("c"), .responseTopic("r"),
        .correlationData(ByteBuffer(bytes: [1, 2, 3])), .subscriptionIdentifier(268_435_455), .sessionExpiryInterval(9),
        .assignedClientIdentifier("id"), .serverKeepAlive(60), .authenticationMethod("m"),
        .authenticationData(ByteBuffer()), .requestProblemInformation(0), .willDelayInterval(5),
        .requestResponseInformation(1), .responseInformation("ri"), .serverReference("sr"), .reasonString(""),
        .receiveMaximum(65_535), .topicAliasMaximum(10), .topicAlias(3), .maximumQoS(1), .retainAvailable(0),
        .userProperty("key", "välue"), .maximumPacketSize(1 << 20), .wildcardSubscriptionAvailable(1),
        .subscriptionIdentifierAvailable(0), .sharedSubscriptionAvailable(1),
    ]

    @Test func everyPropertyKindRoundTrips() throws {
        #expect(Set(Self.everyProperty.map(\.identifier)) == Set(MQTTPropertyIdentifier.allCases))
        let properties = MQTTProperties(Self.everyProperty)
        let bytes = try #require(StoredColumns.encode(properties))
        let decoded = try bytes.withUnsafeBytes { try StoredColumns.decodeProperties($0) }
        #expect(decoded == properties)
        #expect(StoredColumns.encode(MQTTProperties()) == nil)
    }

    @Test func damagedPropertyBlobsThrow() throws {
        let bytes = try #require(StoredColumns.encode([.contentType("text/plain")]))
        #expect(throws: StoredColumns.DecodingError.self) {
            try Array(bytes.dropLast()).withUnsafeBytes { try StoredColumns.decodeProperties($0) }
        }
        #expect(throws: StoredColumns.DecodingError.self) {
            try [UInt8]([0x7F, 0]).withUnsafeBytes { try StoredColumns.decodeProperties($0) }
        }
    }

    @Test func subscriptionIdentifiersAndOptionsRoundTrip() throws {
        let identifiers: [UInt32] = [1, 300, 268_435_455]
        let bytes = try #require(StoredColumns.encode(subscriptionIdentifiers: identifiers))
        #expect(try bytes.withUnsafeBytes { try StoredColumns.decodeSubscriptionIdentifiers($0) } == identifiers)
        #expect(StoredColumns.encode(subscriptionIdentifiers: []) == nil)
        for qos in [MQTTQoS.atMostOnce, .atLeastOnce, .exactlyOnce] {
            for handling in [MQTTRetainHandling.sendOnSubscribe, .sendOnNewSubscribe, .doNotSend] {
                for flags in 0..<4 {
                    let options = MQTTSubscriptionOptions(
                        qos: qos, noLocal: flags & 1 != 0, retainAsPublished: flags & 2 != 0, retainHandling: handling)
                    #expect(try StoredColumns.decodeSubscriptionOptions(StoredColumns.encode(options)) == options)
                }
            }
        }
    }

    @Test(arguments: [
        (SQLITE_FULL, Int32(0), StoreError.Code.full),
        (SQLITE_IOERR_WRITE, ENOSPC, .full),
        (SQLITE_IOERR_WRITE, EDQUOT, .full),
        (SQLITE_IOERR_WRITE, EFBIG, .full),  // RLIMIT_FSIZE with SIGXFSZ ignored
        (SQLITE_IOERR_FSYNC, ENOSPC, .full),
        (SQLITE_IOERR_WRITE, EIO, .io),
        (SQLITE_IOERR_FSYNC, EIO, .io),
        (SQLITE_CORRUPT, 0, .io),
        (SQLITE_BUSY, 0, .io),
        (SQLITE_TOOBIG, 0, .other),
        (SQLITE_CONSTRAINT_PRIMARYKEY, 0, .other),
    ])
    func errorMapping(code: Int32, systemErrno: Int32, expected: StoreError.Code) {
        let error = SQLiteError(code: code, systemErrno: systemErrno, message: "m", context: "c")
        #expect(error.storeError.code == expected)
    }
}
