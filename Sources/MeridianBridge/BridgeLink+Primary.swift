import MeridianMQTT
import NIOCore
import NIOPosix

/// Return to the primary address (`round_robin false`): while the bridge is connected to a
/// secondary address it tries the primary every few seconds, as Mosquitto does, but switches only
/// once the primary answered CONNECT with success — a port that merely accepts TCP is not enough.
/// Then the new connection takes over: the secondary is closed and what was in flight there is sent
/// again to the primary (DUP), then the queue.
extension BridgeLink {
    /// Seconds between attempts to reach the primary (Mosquitto's interval).
    static let primaryProbeInterval: TimeAmount = .seconds(5)

    func startPrimaryProbe() {
        stopPrimaryProbe()
        guard schedule.isOnSecondary else { return }
        primaryProbeTask = loop.scheduleRepeatedTask(initialDelay: Self.primaryProbeInterval, delay: Self.primaryProbeInterval) { [self] _ in
            probePrimary()
        }
    }

    func stopPrimaryProbe() {
        primaryProbeTask?.cancel()
        primaryProbeTask = nil
        primaryProbe?.close()
        primaryProbe = nil
    }

    private func probePrimary() {
        guard !stopped, remoteReady, primaryProbe == nil, let primary = settings.addresses.first else { return }
        openRemoteConnection(to: primary, timeout: .seconds(5)) { [self] in primaryProbe = $0 }
            .whenComplete { [self] result in
                switch result {
                case .success:
                    if let primaryProbe { sendRemoteConnect(on: primaryProbe) }
                case .failure:
                    primaryProbe = nil
                }
            }
    }

    /// A packet on the probe connection: only its CONNACK matters.
    func primaryProbePacket(_ packet: MQTTPacket) {
        guard let probe = primaryProbe else { return }
        guard case .connack(let connack) = packet, connack.reasonCode == .success, remoteReady else {
            probe.close()
            return
        }
        logger.notice("primary address answered, switching back to it")
        primaryProbe = nil
        primaryProbeTask?.cancel()
        primaryProbeTask = nil
        let secondary = remote
        remote = probe
        remoteReady = false
        keepAliveTask?.cancel()
        forwarding.connectionLost()
        inbound.removeAll()
        schedule.switchedToPrimary()
        secondary?.send(.disconnect(MQTTDisconnect()))
        secondary?.flush()
        secondary?.close()
        remoteConnack(connack)
    }
}
