"""fjsense: streaming sensor and monitoring platform for Digital Fujian."""
