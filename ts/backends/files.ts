// A file a model backend reads (an smp weights file): its spec field, its command-line option
// and the absolute path (a spawned worker gets its folder as a data root).
export interface ModelFile {
  field: string;
  option: string;
  file: string;
}
