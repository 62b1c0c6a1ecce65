// What kafka:* probes need: the interpreter, the Kafka decoder and the capture (through kafka-source). They are a large part
// of the runtime, so a script or REPL session without kafka probes never loads them.
export async function kafkaRuntime() {
  const [source, interpreter] = await Promise.all([import('./kafka-source.js'), import('./interpreter.js')]);
  return {
    startKafkaProbes: source.startKafkaProbes,
    startKafkaFeed: source.startKafkaFeed,
    kafkaProbeCount: source.kafkaProbeCount,
    kafkaDemand: source.kafkaDemand,
    compileUserProbe: interpreter.compileUserProbe,
    InterpreterError: interpreter.InterpreterError,
  };
}

export type KafkaRuntime = Awaited<ReturnType<typeof kafkaRuntime>>;
