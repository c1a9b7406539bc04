package shouqianba

// SetMachineID replaces the machine id activation derives device_id from.
func SetMachineID(f func() (string, error)) (restore func()) {
	old := machineID
	machineID = f
	return func() { machineID = old }
}
