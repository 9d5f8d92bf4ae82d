pub mod snmp;
