DROP TABLE platform_unfollows;
