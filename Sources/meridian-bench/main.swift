// meridian-bench: Meridian against Mosquitto under the same neutral load generator.
// See `meridian-bench --help`.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

Interrupts.install()

let options: Options
do {
    guard let parsed = try Options.parse(Array(CommandLine.arguments.dropFirst())) else {
        print(Options.usage)
        exit(0)
    }
    options = parsed
} catch {
    progress("meridian-bench: \(error)")
    exit(1)
}
exit(BenchMain(options: options).run())
