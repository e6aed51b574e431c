"""pmsbridge: connects a hotel's property-management system to its FCM630A IP PBX."""

__version__ = "0.1.0"
