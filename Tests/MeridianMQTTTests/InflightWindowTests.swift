import MeridianMQTT
import Testing

/// Transcripts of the sender's QoS 1/2 exchanges shared by device sessions and bridge links.
@Suite struct InflightWindowTests {
    @Test func qos1IsCompletedByItsPubackOnly() {
        var window = InflightWindow<String>()
        let first = window.start("a", qos: .atLeastOnce)
        let second = window.start("b", qos: .atLeastOnce)
        #expect(first != second)
        #expect(window.pubcomp(first) == nil)  // not a QoS 2 exchange
        #expect(window.pubrec(first, failed: false).payload == nil)
        #expect(window.puback(first) == "a")
        #expect(window.puback(first) == nil)  // a repeated PUBACK completes nothing
        #expect(window.count == 1 && window[second]?.stage == .awaitingPuback)
    }

    @Test func qos2PubrecReleasesThenPubcompCompletes() {
        var window = InflightWindow<String>()
        let id = window.start("m", qos: .exactlyOnce)
        #expect(window.puback(id) == nil)
        #expect(window.pubcomp(id) == nil)  // PUBCOMP before PUBREC is not for this exchange
        #expect(window.pubrec(id, failed: false).kind == "released")
        #expect(window.pubrec(id, failed: false).kind == "repeated")  // PUBREL again
        #expect(window[id]?.stage == .awaitingPubcomp)
        #expect(window.pubcomp(id) == "m")
        #expect(window.isEmpty)
    }

    @Test func failedPubrecEndsTheExchange() {
        var window = InflightWindow<String>()
        let id = window.start("m", qos: .exactlyOnce)
        #expect(window.pubrec(id, failed: true).kind == "failed")
        #expect(window.isEmpty)
        #expect(window.pubrec(id, failed: false).kind == "unknown")
    }

    @Test func resendOrderIsFirstSendingOrderWhateverTheIdentifiers() {
        var window = InflightWindow<Int>()
        // Identifiers wrap and are reused, yet the order is the order of sending.
        window.restore(1, packetIdentifier: 65_535, stage: .awaitingPubrec)
        window.restore(2, packetIdentifier: 3, stage: .awaitingPubcomp)
        let next = window.start(3, qos: .atLeastOnce)
        #expect(next == 1)
        #expect(window.inSendingOrder.map(\.entry.payload) == [1, 2, 3])
        #expect(window.inSendingOrder.map(\.packetIdentifier) == [65_535, 3, 1])
        let removed = window.removeAll { $0.payload != 2 }
        #expect(removed.map(\.entry.payload) == [1, 3])
        #expect(window.inSendingOrder.map(\.entry.payload) == [2])
    }

    @Test func identifiersInUseAreSkippedAndFreedOnesReturn() {
        var window = InflightWindow<Int>()
        for value in 1...65_535 { _ = window.start(value, qos: .atLeastOnce) }
        #expect(window.count == 65_535)
        #expect(window.puback(40_000) == 40_000)
        #expect(window.nextPacketIdentifier() == 40_000)  // the only free one
    }
}

private extension InflightWindow.PubrecOutcome {
    var kind: String {
        switch self {
        case .released: "released"
        case .repeated: "repeated"
        case .failed: "failed"
        case .unknown: "unknown"
        }
    }

    var payload: Payload? {
        switch self {
        case .released(let payload), .repeated(let payload), .failed(let payload): payload
        case .unknown: nil
        }
    }
}
