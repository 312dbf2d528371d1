import Foundation
import MeridianMQTT
import NIOCore
import MeridianTestSupport
import Testing

/// Bounded mutation fuzzing of the parser from the seed corpus in `Corpus/`.
///
/// Runs for `MERIDIAN_FUZZ_SECONDS` (default 10) wall-clock seconds from seed
/// `MERIDIAN_FUZZ_SEED` (default fixed), so a run is reproducible up to where time cuts it.
/// A failing input is printed as a byte array for `FuzzRegressionTests`.
@Suite struct FuzzTests {
    static func loadCorpus() throws -> [[UInt8]] {
        let directory = try #require(Bundle.module.url(forResource: "Corpus", withExtension: nil))
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "bin" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        return try files.map { Array(try Data(contentsOf: $0)) }
    }

    @Test func corpusIsValid() throws {
        let corpus = try Self.loadCorpus()
        #expect(corpus.count >= 20)
        var rng = SplitMix64(seed: 1)
        for seed in corpus {
            #expect(FuzzHarness.check(seed, rng: &rng) == nil)
            // Each seed decodes whole in at least one configuration.
            let decodes = FuzzHarness.configurations.contains {
                let outcome = FuzzHarness.parse([seed[...]], $0)
                return outcome.end == .needMoreBytes && !outcome.packets.isEmpty
            }
            #expect(decodes, "seed does not decode: \(FuzzHarness.hex(seed))")
        }
    }

    @Test func mutationFuzz() throws {
        let corpus = try Self.loadCorpus()
        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["MERIDIAN_FUZZ_SECONDS"].flatMap(Double.init) ?? 10
        let seed = environment["MERIDIAN_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x4D45_5249_4449_414E
        var rng = SplitMix64(seed: seed)
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var executions = 0
        while ContinuousClock.now < deadline {
            for _ in 0..<64 {
                let input = Mutator.mutate(corpus[rng.below(corpus.count)], corpus: corpus, rng: &rng)
                executions += 1
                if let failure = FuzzHarness.check(input, rng: &rng) {
                    Issue.record("\(failure)\ninput: [\(FuzzHarness.hex(input))]")
                    return
                }
            }
        }
        print("mutationFuzz: \(executions) inputs in \(seconds) s from seed \(seed)")
        #expect(executions > 0)
    }

    /// Writes the seed corpus from ``SamplePackets``: `MERIDIAN_WRITE_CORPUS=1 swift test --filter writeCorpus`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MERIDIAN_WRITE_CORPUS"] == "1"))
    func writeCorpus() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")
        var seeds: [(String, ByteBuffer)] = []
        for (index, packet) in SamplePackets.v5.enumerated() where index % 3 == 0 || packet.type == .connect {
            seeds.append(("v5-\(index)-\(packet.type)", encode(packet, version: .v5)))
        }
        for (index, packet) in SamplePackets.v3_1_1.enumerated() where index % 2 == 0 {
            seeds.append(("v311-\(index)-\(packet.type)", encode(packet, version: .v3_1_1)))
        }
        seeds.append(("v31-connect", encode(SamplePackets.v3_1Connect, version: .v3_1)))
        for version in [MQTTProtocolVersion.v3_1_1, .v5] {
            let all = version == .v5 ? SamplePackets.v5 : SamplePackets.v3_1_1
            var session = ByteBuffer()
            for packet in [all[0]] + all.filter({ receivingRole(of: $0) == .server && $0.type != .connect }) {
                packet.write(version: version, to: &session)
            }
            seeds.append(("session-\(version)", session))
        }
        for (name, buffer) in seeds {
            try Data(buffer.readableBytesView).write(to: directory.appendingPathComponent("\(name).bin"))
        }
    }
}
