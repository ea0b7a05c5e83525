DROP TABLE platform_blocks;
