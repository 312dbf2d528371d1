public enum MeridianConfigModule {}
