public enum MeridianBrokerModule {}
