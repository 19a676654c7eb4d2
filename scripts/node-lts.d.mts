/** The Node release tested besides the machine's own (the active LTS line), pinned. */
export declare const NODE_LTS: string;
/** Path of the Node {@link NODE_LTS} binary under `root`/.cache (fetched with `npm pack` once); throws, saying why, when it cannot be had. */
export declare function nodeLts(root?: string): string;
