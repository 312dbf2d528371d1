public enum MeridianBrokerCoreModule {}
