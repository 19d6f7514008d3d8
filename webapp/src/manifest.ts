import {id, version} from '../../plugin.json';

export const pluginId: string = id;
export const pluginVersion: string = version;
