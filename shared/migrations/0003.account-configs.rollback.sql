DROP TABLE account_configs;
