"""Live capture: sources (netlink, audisp plugin), kernel setup per mode, the watch loop."""
