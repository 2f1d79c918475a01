package impl

// NewHandlerFromSpec is NewHandler over a spec the test changed.
var NewHandlerFromSpec = newHandler

// GoOperationName exposes the operationId → Go name mapping the guard dispatches by.
var GoOperationName = goOperationName
