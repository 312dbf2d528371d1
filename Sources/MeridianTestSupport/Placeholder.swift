public enum MeridianTestSupportModule {}
