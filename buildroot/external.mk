include $(sort $(wildcard $(BR2_EXTERNAL_ALCOVES_PATH)/package/*/*.mk))
